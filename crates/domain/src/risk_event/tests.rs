//! The risk event table, row by row.
