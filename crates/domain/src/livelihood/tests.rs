//! The livelihood request table, row by row.
