//! The tenant's directory: its communities (社区), their grids (网格), the units cases are routed
//! to, and the categories of each kind of case. The admin keeps it; filings are checked against it.
//!
//! An aggregate like a case, but one per tenant: commands are decided against the directory as its
//! events have made it, and nothing is ever deleted. What goes out of use is retired: its id is
//! never given to anything else and its name stays readable, so old cases still read right.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::evidence::{Location, check_location, required_text};
use crate::record;
use crate::{
    CaseKind, CategoryId, CommunityId, DirectoryLookup, GridId, InvalidInput, Named, Refusal,
    ReplayError, Role, UnitId, UnknownEvent,
};

/// The kind every directory commit names on the log, beside the kinds of case: each tenant's
/// directory is one stream of commits of this kind.
pub const STREAM_KIND: &str = "directory";
const KIND: &str = STREAM_KIND;

/// The longest name anything in the directory may have, in characters.
pub const MAX_NAME: usize = 100;

/// What kind of body a unit is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[schema(as = directory::UnitKind)]
#[serde(rename_all = "kebab-case")]
pub enum UnitKind {
    /// 街道科室: an office of the sub-district.
    Office,
    /// 调解室: where disputes are mediated.
    MediationRoom,
    /// 派出所
    PoliceStation,
    /// 市场 / 市场监管所
    Market,
    /// 物业公司
    PropertyCompany,
    /// 医院
    Hospital,
    /// 学校
    School,
    /// 社区居委会
    CommunityCommittee,
    Other,
}

impl UnitKind {
    pub const ALL: [UnitKind; 9] = [
        UnitKind::Office,
        UnitKind::MediationRoom,
        UnitKind::PoliceStation,
        UnitKind::Market,
        UnitKind::PropertyCompany,
        UnitKind::Hospital,
        UnitKind::School,
        UnitKind::CommunityCommittee,
        UnitKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Office => "office",
            UnitKind::MediationRoom => "mediation-room",
            UnitKind::PoliceStation => "police-station",
            UnitKind::Market => "market",
            UnitKind::PropertyCompany => "property-company",
            UnitKind::Hospital => "hospital",
            UnitKind::School => "school",
            UnitKind::CommunityCommittee => "community-committee",
            UnitKind::Other => "other",
        }
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---- the directory --------------------------------------------------------------------------

/// A community (社区).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Community {
    pub id: CommunityId,
    pub name: String,
    /// Its default mediation room: a dispute registered in the community without a room goes
    /// there.
    #[serde(default)]
    pub mediation_room: Option<UnitId>,
    /// Its default intake unit.
    #[serde(default)]
    pub intake_unit: Option<UnitId>,
    #[serde(default)]
    pub retired: bool,
}

/// A grid (网格): each is in exactly one community.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub id: GridId,
    pub name: String,
    pub community: CommunityId,
    #[serde(default)]
    pub retired: bool,
    /// Its area on the map, as a polygon's corners in order (none: not drawn): a resident's
    /// report from a point within it is filed in this grid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub area: Vec<Location>,
}

impl Grid {
    /// Whether `point` lies within the grid's area (never, without one): the even-odd rule, on
    /// latitude and longitude as plane coordinates, which at a grid's size is exact enough.
    pub fn covers(&self, point: &Location) -> bool {
        let (x, y) = (point.longitude, point.latitude);
        let corners = &self.area;
        if corners.len() < 3 {
            return false;
        }
        let mut inside = false;
        let mut previous = corners[corners.len() - 1];
        for corner in corners {
            let (xi, yi, xj, yj) = (
                corner.longitude,
                corner.latitude,
                previous.longitude,
                previous.latitude,
            );
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            previous = *corner;
        }
        inside
    }
}

/// A unit cases are routed to: an office, the mediation room, a responsible unit (责任单位).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    pub unit_kind: UnitKind,
    /// Whether it takes part in the tenant's coordinated response network (一呼百应).
    #[serde(default)]
    pub in_network: bool,
    #[serde(default)]
    pub retired: bool,
}

/// A category in one kind's taxonomy: a hazard's category, a dispute's type, a petition's matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub kind: CaseKind,
    pub id: CategoryId,
    pub name: String,
    #[serde(default)]
    pub retired: bool,
    /// What residents are told when they file in this category (Open311's `service_notice`):
    /// how long it takes, who comes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// The tenant's directory as its events have made it. Empty until seeded or kept.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Directory {
    communities: BTreeMap<CommunityId, Community>,
    grids: BTreeMap<GridId, Grid>,
    units: BTreeMap<UnitId, Unit>,
    categories: BTreeMap<CaseKind, BTreeMap<CategoryId, Category>>,
}

static NO_CATEGORIES: BTreeMap<CategoryId, Category> = BTreeMap::new();

/// What the directory keeps: named, and retired once out of service.
trait Entry {
    fn name(&self) -> &str;
    fn retired(&self) -> bool;
}

macro_rules! entry {
    ($($t:ty),*) => {$(
        impl Entry for $t {
            fn name(&self) -> &str {
                &self.name
            }
            fn retired(&self) -> bool {
                self.retired
            }
        }
    )*};
}
entry!(Community, Grid, Unit, Category);

fn refuse<T>(field: &'static str, reason: String) -> Result<T, Refusal> {
    Err(Refusal::invalid(field, reason))
}

/// The entry `id` names, or a refusal naming `field`.
fn known<'a, K: Ord + fmt::Display, E>(
    map: &'a BTreeMap<K, E>,
    what: &str,
    field: &'static str,
    id: &K,
) -> Result<&'a E, Refusal> {
    map.get(id)
        .ok_or_else(|| Refusal::invalid(field, format!("unknown {what} \"{id}\"")))
}

/// The entry `id` names if it is in service, or a refusal naming `field`.
fn in_service<'a, K: Ord + fmt::Display, E: Entry>(
    map: &'a BTreeMap<K, E>,
    what: &str,
    field: &'static str,
    id: &K,
) -> Result<&'a E, Refusal> {
    match known(map, what, field, id)? {
        entry if entry.retired() => refuse(field, format!("{what} \"{id}\" is retired")),
        entry => Ok(entry),
    }
}

/// Refuses an id already given, in service or retired: ids are never reused.
fn fresh<K: Ord + fmt::Display, E: Entry>(
    map: &BTreeMap<K, E>,
    what: &str,
    id: &K,
) -> Result<(), Refusal> {
    match map.get(id) {
        None => Ok(()),
        Some(entry) => refuse(
            "id",
            format!(
                "{what} \"{id}\" is already in the directory{}; an id is never given twice",
                if entry.retired() { " (retired)" } else { "" }
            ),
        ),
    }
}

/// The entry to retire: known, and not retired already.
fn retirable<'a, K: Ord + fmt::Display, E: Entry>(
    map: &'a BTreeMap<K, E>,
    what: &str,
    id: &K,
) -> Result<&'a E, Refusal> {
    match known(map, what, "id", id)? {
        entry if entry.retired() => refuse("id", format!("{what} \"{id}\" is retired already")),
        entry => Ok(entry),
    }
}

/// A name as given: required, at most [`MAX_NAME`] characters, trimmed.
fn name(given: &str) -> Result<String, Refusal> {
    let name = given.trim();
    required_text("name", name, MAX_NAME)?;
    Ok(name.to_owned())
}

/// A new name for the entry `id` names, retired or not: the same name again is refused.
fn rename<K: Ord + fmt::Display, E: Entry>(
    map: &BTreeMap<K, E>,
    what: &str,
    id: &K,
    given: &str,
) -> Result<String, Refusal> {
    let current = known(map, what, "id", id)?.name();
    match name(given)? {
        name if name == current => refuse(
            "name",
            format!("{what} \"{id}\" is named \"{name}\" already"),
        ),
        name => Ok(name),
    }
}

impl Directory {
    /// Whether nothing has been kept or seeded yet.
    pub fn is_empty(&self) -> bool {
        self.communities.is_empty()
            && self.grids.is_empty()
            && self.units.is_empty()
            && self.categories.values().all(BTreeMap::is_empty)
    }

    pub fn community(&self, id: &CommunityId) -> Option<&Community> {
        self.communities.get(id)
    }

    pub fn grid(&self, id: &GridId) -> Option<&Grid> {
        self.grids.get(id)
    }

    pub fn unit(&self, id: &UnitId) -> Option<&Unit> {
        self.units.get(id)
    }

    pub fn category(&self, kind: CaseKind, id: &CategoryId) -> Option<&Category> {
        self.kind_categories(kind).get(id)
    }

    /// A community's name, retired or not.
    pub fn community_name(&self, id: &CommunityId) -> Option<&str> {
        self.community(id).map(|c| c.name.as_str())
    }

    /// A grid's name, retired or not.
    pub fn grid_name(&self, id: &GridId) -> Option<&str> {
        self.grid(id).map(|g| g.name.as_str())
    }

    /// A unit's name, retired or not.
    pub fn unit_name(&self, id: &UnitId) -> Option<&str> {
        self.unit(id).map(|u| u.name.as_str())
    }

    /// A category's name, retired or not.
    pub fn category_name(&self, kind: CaseKind, id: &CategoryId) -> Option<&str> {
        self.category(kind, id).map(|c| c.name.as_str())
    }

    /// Every community, retired ones too, by id.
    pub fn communities(&self) -> impl Iterator<Item = &Community> {
        self.communities.values()
    }

    /// Every grid, retired ones too, by id.
    pub fn grids(&self) -> impl Iterator<Item = &Grid> {
        self.grids.values()
    }

    /// The grids of one community, retired ones too, by id.
    pub fn grids_in<'a>(&'a self, community: &'a CommunityId) -> impl Iterator<Item = &'a Grid> {
        self.grids
            .values()
            .filter(move |g| &g.community == community)
    }

    /// Every unit, retired ones too, by id.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    /// One kind's categories, retired ones too, by id.
    pub fn categories(&self, kind: CaseKind) -> impl Iterator<Item = &Category> {
        self.kind_categories(kind).values()
    }

    /// Every kind's categories, retired ones too, by kind and id.
    pub fn all_categories(&self) -> impl Iterator<Item = &Category> {
        self.categories.values().flat_map(BTreeMap::values)
    }

    fn kind_categories(&self, kind: CaseKind) -> &BTreeMap<CategoryId, Category> {
        self.categories.get(&kind).unwrap_or(&NO_CATEGORIES)
    }

    // ---- checks a filing makes ----

    /// Checks a community named in `field` is in the directory and in service.
    pub fn check_community(&self, field: &'static str, id: &CommunityId) -> Result<(), Refusal> {
        in_service(&self.communities, "community", field, id).map(drop)
    }

    /// Checks a grid named in `field` is in the directory, in service, and in `community`.
    pub fn check_grid(
        &self,
        field: &'static str,
        id: &GridId,
        community: &CommunityId,
    ) -> Result<(), Refusal> {
        let grid = in_service(&self.grids, "grid", field, id)?;
        if &grid.community != community {
            return Err(Refusal::invalid(
                field,
                format!(
                    "grid \"{id}\" is in community \"{}\", not \"{community}\"",
                    grid.community
                ),
            ));
        }
        Ok(())
    }

    /// Checks a unit named in `field` is in the directory and in service.
    pub fn check_unit(&self, field: &'static str, id: &UnitId) -> Result<(), Refusal> {
        in_service(&self.units, "unit", field, id).map(drop)
    }

    /// Checks a unit named in `field` is in service and in the coordinated response network.
    pub fn check_network_unit(&self, field: &'static str, id: &UnitId) -> Result<(), Refusal> {
        self.check_unit(field, id)?;
        match self.units.get(id) {
            Some(unit) if unit.in_network => Ok(()),
            _ => Err(Refusal::invalid(
                field,
                format!(
                    "unit \"{id}\" is not in the coordinated response network (一呼百应); an admin adds it (update-unit with in_network: true)"
                ),
            )),
        }
    }

    /// Checks a category named in `field` is one of `kind`'s and in service; a refusal lists the
    /// categories in service.
    pub fn check_category(
        &self,
        field: &'static str,
        kind: CaseKind,
        id: &CategoryId,
    ) -> Result<(), Refusal> {
        let reason = match self.category(kind, id) {
            Some(c) if !c.retired => return Ok(()),
            Some(_) => format!("{kind} category \"{id}\" is retired"),
            None => format!("unknown {kind} category \"{id}\""),
        };
        let in_service: Vec<&str> = self
            .categories(kind)
            .filter(|c| !c.retired)
            .map(|c| c.id.as_str())
            .collect();
        let listed = if in_service.is_empty() {
            "none".to_owned()
        } else {
            in_service.join(", ")
        };
        Err(Refusal::invalid(
            field,
            format!("{reason}; {kind} categories in service: {listed}"),
        ))
    }

    /// A community's default mediation room or intake unit, while it is in service.
    fn community_default(
        &self,
        community: &CommunityId,
        pick: fn(&Community) -> Option<&UnitId>,
    ) -> Option<&UnitId> {
        self.communities
            .get(community)
            .and_then(pick)
            .filter(|unit| self.units.get(*unit).is_some_and(|u| !u.retired))
    }

    /// A default mediation room: a unit in service that is a mediation room.
    fn check_room(&self, room: Option<&UnitId>) -> Result<(), Refusal> {
        let Some(id) = room else { return Ok(()) };
        let unit = in_service(&self.units, "unit", "mediation_room", id)?;
        if unit.unit_kind != UnitKind::MediationRoom {
            return Err(Refusal::invalid(
                "mediation_room",
                format!(
                    "unit \"{id}\" is a {}, not a mediation room",
                    unit.unit_kind
                ),
            ));
        }
        Ok(())
    }

    fn check_intake(&self, unit: Option<&UnitId>) -> Result<(), Refusal> {
        unit.map_or(Ok(()), |id| {
            in_service(&self.units, "unit", "intake_unit", id).map(drop)
        })
    }

    /// What communities in service have `unit` as (`rooms_only`: their mediation room; else
    /// either default), said as "the default mediation room of community \"qinghe\"".
    fn defaults_naming(&self, unit: &UnitId, rooms_only: bool) -> Vec<String> {
        let mut roles = Vec::new();
        for c in self.communities.values().filter(|c| !c.retired) {
            if c.mediation_room.as_ref() == Some(unit) {
                roles.push(format!(
                    "the default mediation room of community \"{}\"",
                    c.id
                ));
            }
            if !rooms_only && c.intake_unit.as_ref() == Some(unit) {
                roles.push(format!("the default intake unit of community \"{}\"", c.id));
            }
        }
        roles
    }
}

// ---- the shipped taxonomies -----------------------------------------------------------------

/// The shipped taxonomies: every kind's categories as Docket ships them (each kind's
/// `Kind::CATEGORIES`), with their Chinese names.
pub fn shipped_categories() -> Vec<(CaseKind, CategoryId, &'static str)> {
    CaseKind::ALL
        .iter()
        .flat_map(|kind| {
            kind.shipped_categories()
                .iter()
                .map(|&(slug, name)| (*kind, slug.parse().expect("shipped slugs are valid"), name))
        })
        .collect()
}

// ---- commands -------------------------------------------------------------------------------

/// A command to the directory, named as its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::Command)]
#[serde(tag = "action", content = "input", rename_all = "kebab-case")]
pub enum DirectoryCommand {
    AddCommunity(AddCommunity),
    RenameCommunity(Rename<CommunityId>),
    SetCommunityUnits(SetCommunityUnits),
    RetireCommunity(Retire<CommunityId>),
    AddGrid(AddGrid),
    RenameGrid(Rename<GridId>),
    RetireGrid(Retire<GridId>),
    AddUnit(AddUnit),
    UpdateUnit(UpdateUnit),
    RenameUnit(Rename<UnitId>),
    RetireUnit(Retire<UnitId>),
    AddCategory(NamedCategory),
    RenameCategory(NamedCategory),
    RetireCategory(CategoryKey),
    SetGridArea(SetGridArea),
    SetCategoryNotice(SetCategoryNotice),
}

/// Draws a grid's area: its corners in order (at least three), or none to take it off the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::SetGridArea)]
#[serde(deny_unknown_fields)]
pub struct SetGridArea {
    pub id: GridId,
    pub area: Vec<Location>,
}

/// What residents are told when they file in a category; none, or blank, takes it away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::SetCategoryNotice)]
#[serde(deny_unknown_fields)]
pub struct SetCategoryNotice {
    pub kind: CaseKind,
    pub id: CategoryId,
    #[serde(default)]
    pub notice: Option<String>,
}

/// The most corners a grid's area has.
pub const MAX_AREA_CORNERS: usize = 1000;
/// The longest notice a category gives.
pub const MAX_NOTICE: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::AddCommunity)]
#[serde(deny_unknown_fields)]
pub struct AddCommunity {
    pub id: CommunityId,
    pub name: String,
    /// Its default mediation room: a unit of kind mediation-room.
    #[serde(default)]
    pub mediation_room: Option<UnitId>,
    #[serde(default)]
    pub intake_unit: Option<UnitId>,
}

/// Replaces both of a community's default units; one left out is unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::SetCommunityUnits)]
#[serde(deny_unknown_fields)]
pub struct SetCommunityUnits {
    pub id: CommunityId,
    #[serde(default)]
    pub mediation_room: Option<UnitId>,
    #[serde(default)]
    pub intake_unit: Option<UnitId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::AddGrid)]
#[serde(deny_unknown_fields)]
pub struct AddGrid {
    pub id: GridId,
    pub name: String,
    pub community: CommunityId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::AddUnit)]
#[serde(deny_unknown_fields)]
pub struct AddUnit {
    pub id: UnitId,
    pub name: String,
    pub unit_kind: UnitKind,
    #[serde(default)]
    pub in_network: bool,
}

/// Changes a unit's kind or its part in the network; what is left out stays as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::UpdateUnit)]
#[serde(deny_unknown_fields)]
pub struct UpdateUnit {
    pub id: UnitId,
    #[serde(default)]
    pub unit_kind: Option<UnitKind>,
    #[serde(default)]
    pub in_network: Option<bool>,
}

/// A new name for a community, grid or unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::Rename)]
#[serde(deny_unknown_fields)]
pub struct Rename<I> {
    pub id: I,
    pub name: String,
}

/// Takes a community, grid or unit out of service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::Retire)]
#[serde(deny_unknown_fields)]
pub struct Retire<I> {
    pub id: I,
}

/// A category with its name: to add, or to rename.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::NamedCategory)]
#[serde(deny_unknown_fields)]
pub struct NamedCategory {
    pub kind: CaseKind,
    pub id: CategoryId,
    pub name: String,
}

/// A category to take out of service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = directory::CategoryKey)]
#[serde(deny_unknown_fields)]
pub struct CategoryKey {
    pub kind: CaseKind,
    pub id: CategoryId,
}

impl DirectoryCommand {
    /// Every action, as the commands are named.
    pub const ACTIONS: [&'static str; 16] = [
        "add-community",
        "rename-community",
        "set-community-units",
        "retire-community",
        "add-grid",
        "rename-grid",
        "retire-grid",
        "add-unit",
        "update-unit",
        "rename-unit",
        "retire-unit",
        "add-category",
        "rename-category",
        "retire-category",
        "set-grid-area",
        "set-category-notice",
    ];

    pub fn action(&self) -> &'static str {
        let index = match self {
            DirectoryCommand::AddCommunity(_) => 0,
            DirectoryCommand::RenameCommunity(_) => 1,
            DirectoryCommand::SetCommunityUnits(_) => 2,
            DirectoryCommand::RetireCommunity(_) => 3,
            DirectoryCommand::AddGrid(_) => 4,
            DirectoryCommand::RenameGrid(_) => 5,
            DirectoryCommand::RetireGrid(_) => 6,
            DirectoryCommand::AddUnit(_) => 7,
            DirectoryCommand::UpdateUnit(_) => 8,
            DirectoryCommand::RenameUnit(_) => 9,
            DirectoryCommand::RetireUnit(_) => 10,
            DirectoryCommand::AddCategory(_) => 11,
            DirectoryCommand::RenameCategory(_) => 12,
            DirectoryCommand::RetireCategory(_) => 13,
            DirectoryCommand::SetGridArea(_) => 14,
            DirectoryCommand::SetCategoryNotice(_) => 15,
        };
        Self::ACTIONS[index]
    }

    /// Parses a request: the action and its body (`null` is an empty object), naming the field
    /// at fault by its path when the body does not make the command.
    pub fn parse(action: &str, body: Value) -> Result<DirectoryCommand, InvalidInput> {
        if !Self::ACTIONS.contains(&action) {
            return Err(InvalidInput {
                field: None,
                message: format!(
                    "unknown directory action {action:?}; actions are {}",
                    Self::ACTIONS.join(", ")
                ),
            });
        }
        InvalidInput::parse_action(action, body)
    }
}

// ---- events ---------------------------------------------------------------------------------

/// What happened to the directory. On the log as `directory.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum DirectoryEvent {
    CommunityAdded {
        id: CommunityId,
        name: String,
        mediation_room: Option<UnitId>,
        intake_unit: Option<UnitId>,
    },
    CommunityRenamed {
        id: CommunityId,
        name: String,
    },
    CommunityUnitsSet {
        id: CommunityId,
        mediation_room: Option<UnitId>,
        intake_unit: Option<UnitId>,
    },
    CommunityRetired {
        id: CommunityId,
    },
    GridAdded {
        id: GridId,
        name: String,
        community: CommunityId,
    },
    GridRenamed {
        id: GridId,
        name: String,
    },
    GridRetired {
        id: GridId,
    },
    UnitAdded {
        id: UnitId,
        name: String,
        unit_kind: UnitKind,
        in_network: bool,
    },
    /// The unit's kind and part in the network as they are now.
    UnitUpdated {
        id: UnitId,
        unit_kind: UnitKind,
        in_network: bool,
    },
    UnitRenamed {
        id: UnitId,
        name: String,
    },
    UnitRetired {
        id: UnitId,
    },
    CategoryAdded {
        kind: CaseKind,
        id: CategoryId,
        name: String,
    },
    CategoryRenamed {
        kind: CaseKind,
        id: CategoryId,
        name: String,
    },
    CategoryRetired {
        kind: CaseKind,
        id: CategoryId,
    },
    GridAreaSet {
        id: GridId,
        area: Vec<Location>,
    },
    CategoryNoticeSet {
        kind: CaseKind,
        id: CategoryId,
        notice: Option<String>,
    },
    /// A whole starting directory at once: what a data directory's cases already used, when it
    /// is upgraded, or the demo's. Never decided from a command: see [`seed`] and
    /// [`seed_from_use`]. Entries whose ids are in the directory already are left as they are.
    Seeded {
        communities: Vec<Community>,
        grids: Vec<Grid>,
        units: Vec<Unit>,
        categories: Vec<Category>,
    },
}

impl DirectoryEvent {
    /// The prefix of every directory event's type name.
    pub const TYPE_PREFIX: &'static str = KIND;

    /// The type name, schema version and data as they go on the log.
    pub fn to_record(&self) -> (String, u32, Value) {
        record::to_record(KIND, self)
    }

    pub fn from_record(
        event_type: &str,
        schema_version: u32,
        data: &Value,
    ) -> Result<Self, UnknownEvent> {
        match record::split(event_type, schema_version)? {
            (KIND, name) => record::read(event_type, schema_version, name, data),
            _ => Err(record::unknown(
                event_type,
                schema_version,
                "not a directory event",
            )),
        }
    }
}

// ---- the rules ------------------------------------------------------------------------------

/// Decides what a command does to the directory: the events to record, or a refusal. Only the
/// admin keeps the directory.
pub fn decide(
    directory: &Directory,
    command: &DirectoryCommand,
    role: Role,
) -> Result<Vec<DirectoryEvent>, Refusal> {
    use DirectoryCommand as C;
    use DirectoryEvent as E;
    if role != Role::Admin {
        return Err(Refusal::RoleNotPermitted {
            kind: KIND,
            state: "kept",
            action: command.action().to_owned(),
            role,
            allowed: Vec::new(),
        });
    }
    let d = directory;
    let event = match command {
        C::AddCommunity(c) => {
            fresh(&d.communities, "community", &c.id)?;
            let name = name(&c.name)?;
            d.check_room(c.mediation_room.as_ref())?;
            d.check_intake(c.intake_unit.as_ref())?;
            E::CommunityAdded {
                id: c.id.clone(),
                name,
                mediation_room: c.mediation_room.clone(),
                intake_unit: c.intake_unit.clone(),
            }
        }
        C::RenameCommunity(r) => E::CommunityRenamed {
            id: r.id.clone(),
            name: rename(&d.communities, "community", &r.id, &r.name)?,
        },
        C::SetCommunityUnits(s) => {
            let c = in_service(&d.communities, "community", "id", &s.id)?;
            d.check_room(s.mediation_room.as_ref())?;
            d.check_intake(s.intake_unit.as_ref())?;
            if c.mediation_room == s.mediation_room && c.intake_unit == s.intake_unit {
                return refuse(
                    "id",
                    format!("community \"{}\" has these units already", s.id),
                );
            }
            E::CommunityUnitsSet {
                id: s.id.clone(),
                mediation_room: s.mediation_room.clone(),
                intake_unit: s.intake_unit.clone(),
            }
        }
        C::RetireCommunity(r) => {
            retirable(&d.communities, "community", &r.id)?;
            let grids: Vec<&str> = d
                .grids_in(&r.id)
                .filter(|g| !g.retired)
                .map(|g| g.id.as_str())
                .collect();
            if !grids.is_empty() {
                let grids = grids.join(", ");
                return refuse(
                    "id",
                    format!(
                        "community \"{}\" still has grids in service ({grids}); retire its grids first",
                        r.id
                    ),
                );
            }
            E::CommunityRetired { id: r.id.clone() }
        }
        C::AddGrid(g) => {
            fresh(&d.grids, "grid", &g.id)?;
            let name = name(&g.name)?;
            in_service(&d.communities, "community", "community", &g.community)?;
            E::GridAdded {
                id: g.id.clone(),
                name,
                community: g.community.clone(),
            }
        }
        C::RenameGrid(r) => E::GridRenamed {
            id: r.id.clone(),
            name: rename(&d.grids, "grid", &r.id, &r.name)?,
        },
        C::RetireGrid(r) => {
            retirable(&d.grids, "grid", &r.id)?;
            E::GridRetired { id: r.id.clone() }
        }
        C::AddUnit(u) => {
            fresh(&d.units, "unit", &u.id)?;
            E::UnitAdded {
                id: u.id.clone(),
                name: name(&u.name)?,
                unit_kind: u.unit_kind,
                in_network: u.in_network,
            }
        }
        C::UpdateUnit(u) => {
            let unit = in_service(&d.units, "unit", "id", &u.id)?;
            let unit_kind = u.unit_kind.unwrap_or(unit.unit_kind);
            let in_network = u.in_network.unwrap_or(unit.in_network);
            if unit_kind == unit.unit_kind && in_network == unit.in_network {
                let place = if in_network { "in" } else { "outside" };
                return refuse(
                    "id",
                    format!(
                        "unit \"{}\" is a {unit_kind} {place} the network already; nothing to change",
                        u.id
                    ),
                );
            }
            let rooms = d.defaults_naming(&u.id, true);
            if unit_kind != UnitKind::MediationRoom && !rooms.is_empty() {
                let rooms = rooms.join(" and ");
                return refuse(
                    "unit_kind",
                    format!(
                        "unit \"{}\" is {rooms}: it stays a mediation room until the community names another",
                        u.id
                    ),
                );
            }
            E::UnitUpdated {
                id: u.id.clone(),
                unit_kind,
                in_network,
            }
        }
        C::RenameUnit(r) => E::UnitRenamed {
            id: r.id.clone(),
            name: rename(&d.units, "unit", &r.id, &r.name)?,
        },
        C::RetireUnit(r) => {
            retirable(&d.units, "unit", &r.id)?;
            let defaults = d.defaults_naming(&r.id, false);
            if !defaults.is_empty() {
                let defaults = defaults.join(" and ");
                return refuse(
                    "id",
                    format!(
                        "unit \"{}\" is {defaults}: it cannot be retired until the community names another",
                        r.id
                    ),
                );
            }
            E::UnitRetired { id: r.id.clone() }
        }
        C::AddCategory(c) => {
            fresh(
                d.kind_categories(c.kind),
                &format!("{} category", c.kind),
                &c.id,
            )?;
            E::CategoryAdded {
                kind: c.kind,
                id: c.id.clone(),
                name: name(&c.name)?,
            }
        }
        C::RenameCategory(c) => {
            let what = format!("{} category", c.kind);
            E::CategoryRenamed {
                kind: c.kind,
                id: c.id.clone(),
                name: rename(d.kind_categories(c.kind), &what, &c.id, &c.name)?,
            }
        }
        C::RetireCategory(c) => {
            let what = format!("{} category", c.kind);
            retirable(d.kind_categories(c.kind), &what, &c.id)?;
            if d.categories(c.kind)
                .all(|other| other.retired || other.id == c.id)
            {
                let kind = c.kind;
                return refuse(
                    "id",
                    format!(
                        "{what} \"{}\" is the last in service: a {kind} needs a category to be filed",
                        c.id
                    ),
                );
            }
            E::CategoryRetired {
                kind: c.kind,
                id: c.id.clone(),
            }
        }
        C::SetGridArea(g) => {
            in_service(&d.grids, "grid", "id", &g.id)?;
            if !g.area.is_empty() && g.area.len() < 3 {
                return refuse(
                    "area",
                    "an area has at least three corners, or none".to_owned(),
                );
            }
            if g.area.len() > MAX_AREA_CORNERS {
                return refuse(
                    "area",
                    format!("an area has at most {MAX_AREA_CORNERS} corners"),
                );
            }
            for corner in &g.area {
                check_location(Some(corner)).map_err(|_| {
                    Refusal::invalid(
                        "area",
                        "each corner's latitude is within -90 to 90 and longitude within -180 to 180",
                    )
                })?;
            }
            E::GridAreaSet {
                id: g.id.clone(),
                area: g.area.clone(),
            }
        }
        C::SetCategoryNotice(c) => {
            let what = format!("{} category", c.kind);
            in_service(d.kind_categories(c.kind), &what, "id", &c.id)?;
            let notice = c
                .notice
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            if notice
                .as_ref()
                .is_some_and(|n| n.chars().count() > MAX_NOTICE)
            {
                return refuse(
                    "notice",
                    format!("a notice is at most {MAX_NOTICE} characters"),
                );
            }
            E::CategoryNoticeSet {
                kind: c.kind,
                id: c.id.clone(),
                notice,
            }
        }
    };
    Ok(vec![event])
}

fn get_mut<'a, K: Ord, E>(
    map: &'a mut BTreeMap<K, E>,
    id: &K,
    reason: &'static str,
) -> Result<&'a mut E, ReplayError> {
    map.get_mut(id).ok_or(ReplayError::new(KIND, reason))
}

fn insert<K: Ord, E>(
    map: &mut BTreeMap<K, E>,
    id: K,
    entry: E,
    reason: &'static str,
) -> Result<(), ReplayError> {
    if map.contains_key(&id) {
        return Err(ReplayError::new(KIND, reason));
    }
    map.insert(id, entry);
    Ok(())
}

const UNKNOWN_COMMUNITY: &str = "an event about an unknown community";
const UNKNOWN_GRID: &str = "an event about an unknown grid";
const UNKNOWN_UNIT: &str = "an event about an unknown unit";
const UNKNOWN_CATEGORY: &str = "an event about an unknown category";

impl Directory {
    fn require_units<'a>(
        &self,
        units: impl IntoIterator<Item = &'a Option<UnitId>>,
    ) -> Result<(), ReplayError> {
        if units
            .into_iter()
            .flatten()
            .all(|u| self.units.contains_key(u))
        {
            Ok(())
        } else {
            Err(ReplayError::new(KIND, UNKNOWN_UNIT))
        }
    }

    fn category_mut(
        &mut self,
        kind: CaseKind,
        id: &CategoryId,
    ) -> Result<&mut Category, ReplayError> {
        self.categories
            .get_mut(&kind)
            .and_then(|m| m.get_mut(id))
            .ok_or(ReplayError::new(KIND, UNKNOWN_CATEGORY))
    }
}

/// Applies one recorded event. Events are facts: this does not judge them again, it only refuses
/// what cannot be replayed at all (an event about an id the directory does not have, or adding
/// one it has).
pub fn evolve(directory: Directory, event: &DirectoryEvent) -> Result<Directory, ReplayError> {
    use DirectoryEvent as E;
    let mut d = directory;
    match event {
        E::CommunityAdded {
            id,
            name,
            mediation_room,
            intake_unit,
        } => {
            d.require_units([mediation_room, intake_unit])?;
            let community = Community {
                id: id.clone(),
                name: name.clone(),
                mediation_room: mediation_room.clone(),
                intake_unit: intake_unit.clone(),
                retired: false,
            };
            insert(
                &mut d.communities,
                id.clone(),
                community,
                "a community added twice",
            )?;
        }
        E::CommunityRenamed { id, name } => {
            get_mut(&mut d.communities, id, UNKNOWN_COMMUNITY)?.name = name.clone();
        }
        E::CommunityUnitsSet {
            id,
            mediation_room,
            intake_unit,
        } => {
            d.require_units([mediation_room, intake_unit])?;
            let c = get_mut(&mut d.communities, id, UNKNOWN_COMMUNITY)?;
            c.mediation_room = mediation_room.clone();
            c.intake_unit = intake_unit.clone();
        }
        E::CommunityRetired { id } => {
            get_mut(&mut d.communities, id, UNKNOWN_COMMUNITY)?.retired = true;
        }
        E::GridAdded {
            id,
            name,
            community,
        } => {
            if !d.communities.contains_key(community) {
                return Err(ReplayError::new(KIND, UNKNOWN_COMMUNITY));
            }
            let grid = Grid {
                id: id.clone(),
                name: name.clone(),
                community: community.clone(),
                retired: false,
                area: Vec::new(),
            };
            insert(&mut d.grids, id.clone(), grid, "a grid added twice")?;
        }
        E::GridRenamed { id, name } => {
            get_mut(&mut d.grids, id, UNKNOWN_GRID)?.name = name.clone();
        }
        E::GridRetired { id } => get_mut(&mut d.grids, id, UNKNOWN_GRID)?.retired = true,
        E::UnitAdded {
            id,
            name,
            unit_kind,
            in_network,
        } => {
            let unit = Unit {
                id: id.clone(),
                name: name.clone(),
                unit_kind: *unit_kind,
                in_network: *in_network,
                retired: false,
            };
            insert(&mut d.units, id.clone(), unit, "a unit added twice")?;
        }
        E::UnitUpdated {
            id,
            unit_kind,
            in_network,
        } => {
            let u = get_mut(&mut d.units, id, UNKNOWN_UNIT)?;
            u.unit_kind = *unit_kind;
            u.in_network = *in_network;
        }
        E::UnitRenamed { id, name } => get_mut(&mut d.units, id, UNKNOWN_UNIT)?.name = name.clone(),
        E::UnitRetired { id } => get_mut(&mut d.units, id, UNKNOWN_UNIT)?.retired = true,
        E::CategoryAdded { kind, id, name } => {
            let category = Category {
                kind: *kind,
                id: id.clone(),
                name: name.clone(),
                retired: false,
                notice: None,
            };
            let map = d.categories.entry(*kind).or_default();
            insert(map, id.clone(), category, "a category added twice")?;
        }
        E::CategoryRenamed { kind, id, name } => d.category_mut(*kind, id)?.name = name.clone(),
        E::CategoryRetired { kind, id } => d.category_mut(*kind, id)?.retired = true,
        E::GridAreaSet { id, area } => get_mut(&mut d.grids, id, UNKNOWN_GRID)?.area = area.clone(),
        E::CategoryNoticeSet { kind, id, notice } => {
            d.category_mut(*kind, id)?.notice = notice.clone();
        }
        E::Seeded {
            communities,
            grids,
            units,
            categories,
        } => {
            for u in units {
                d.units.entry(u.id.clone()).or_insert_with(|| u.clone());
            }
            for c in communities {
                d.require_units([&c.mediation_room, &c.intake_unit])?;
                d.communities
                    .entry(c.id.clone())
                    .or_insert_with(|| c.clone());
            }
            for g in grids {
                if !d.communities.contains_key(&g.community) {
                    return Err(ReplayError::new(KIND, UNKNOWN_COMMUNITY));
                }
                d.grids.entry(g.id.clone()).or_insert_with(|| g.clone());
            }
            for c in categories {
                let map = d.categories.entry(c.kind).or_default();
                map.entry(c.id.clone()).or_insert_with(|| c.clone());
            }
        }
    }
    Ok(d)
}

// ---- seeding --------------------------------------------------------------------------------

/// Whether a unit seen only by its id is taken for a mediation room: its id says `mediation`,
/// `room` or `tiaojie` (调解). A guess, kept simple: the admin corrects it with `update-unit`.
fn looks_like_a_room(id: &UnitId) -> bool {
    ["mediation", "room", "tiaojie"]
        .iter()
        .any(|word| id.as_str().contains(word))
}

/// Seeds a directory from the ids a data directory's cases already use, when one made before the
/// directory existed is upgraded. Everything is named by its id (the admin renames it later) and
/// in service; a unit is of kind `other`, or `mediation-room` when its id looks like one (it
/// says `mediation`, `room` or `tiaojie`); no community has default units. A grid's community is
/// added if it is not among `communities`; a grid seen in two communities keeps the first. Every
/// shipped category is added with its name, and any category in use that is not shipped by its
/// id. The event lists everything sorted by id, whatever order it was given in.
pub fn seed_from_use(
    communities: impl IntoIterator<Item = CommunityId>,
    grids: impl IntoIterator<Item = (GridId, CommunityId)>,
    units: impl IntoIterator<Item = UnitId>,
    categories: impl IntoIterator<Item = (CaseKind, CategoryId)>,
) -> DirectoryEvent {
    let mut d = Directory::default();
    let add_community = |d: &mut Directory, id: CommunityId| {
        d.communities
            .entry(id.clone())
            .or_insert_with(|| Community {
                name: id.to_string(),
                id,
                mediation_room: None,
                intake_unit: None,
                retired: false,
            });
    };
    for id in communities {
        add_community(&mut d, id);
    }
    for (id, community) in grids {
        add_community(&mut d, community.clone());
        d.grids.entry(id.clone()).or_insert_with(|| Grid {
            name: id.to_string(),
            id,
            community,
            retired: false,
            area: Vec::new(),
        });
    }
    for id in units {
        let unit_kind = if looks_like_a_room(&id) {
            UnitKind::MediationRoom
        } else {
            UnitKind::Other
        };
        d.units.entry(id.clone()).or_insert_with(|| Unit {
            name: id.to_string(),
            id,
            unit_kind,
            in_network: false,
            retired: false,
        });
    }
    let shipped = shipped_categories()
        .into_iter()
        .map(|(kind, id, name)| (kind, id, name.to_owned()));
    let in_use = categories.into_iter().map(|(kind, id)| {
        let name = id.to_string();
        (kind, id, name)
    });
    for (kind, id, name) in shipped.chain(in_use) {
        let map = d.categories.entry(kind).or_default();
        map.entry(id.clone()).or_insert(Category {
            kind,
            id,
            name,
            retired: false,
            notice: None,
        });
    }
    seed(d)
}

/// As [`seed_from_use`], from names as text (a test's fixture, a read model's columns): the
/// first name that is no valid id is the error.
pub fn seed_from_names(
    communities: &[&str],
    grids: &[(&str, &str)],
    units: &[&str],
) -> Result<DirectoryEvent, crate::InvalidId> {
    let communities = communities
        .iter()
        .map(|c| c.parse())
        .collect::<Result<Vec<CommunityId>, _>>()?;
    let grids = grids
        .iter()
        .map(|(g, c)| Ok((g.parse()?, c.parse()?)))
        .collect::<Result<Vec<(GridId, CommunityId)>, crate::InvalidId>>()?;
    let units = units
        .iter()
        .map(|u| u.parse())
        .collect::<Result<Vec<UnitId>, _>>()?;
    Ok(seed_from_use(communities, grids, units, []))
}

/// Seeds a whole starting directory, as the demo does: records `directory` as one event. Build it
/// by deciding commands, so that it holds what a kept directory holds.
pub fn seed(directory: Directory) -> DirectoryEvent {
    let Directory {
        communities,
        grids,
        units,
        categories,
    } = directory;
    DirectoryEvent::Seeded {
        communities: communities.into_values().collect(),
        grids: grids.into_values().collect(),
        units: units.into_values().collect(),
        categories: categories
            .into_values()
            .flat_map(BTreeMap::into_values)
            .collect(),
    }
}

#[cfg(test)]
mod tests;

impl DirectoryLookup for Directory {
    fn check(&self, field: &'static str, named: Named<'_>) -> Result<(), Refusal> {
        let checked = match named {
            Named::Community(id) => self.check_community(field, id),
            Named::Grid(id, community) => self.check_grid(field, id, community),
            Named::Unit(id) => self.check_unit(field, id),
            Named::NetworkUnit(id) => self.check_network_unit(field, id),
            Named::Category(kind, id) => match kind.parse::<CaseKind>() {
                Ok(kind) => self.check_category(field, kind, id),
                Err(e) => Err(Refusal::invalid(field, e.message)),
            },
        };
        // A tenant whose directory was never kept: say what to do about it.
        checked.map_err(|refusal| match refusal {
            Refusal::InvalidField { field, reason } if self.is_empty() => Refusal::InvalidField {
                field,
                reason: format!(
                    "{reason}: the tenant's directory is empty; an admin sets up its communities, grids and units first (/v1/directory)"
                ),
            },
            other => other,
        })
    }

    fn mediation_room(&self, community: &CommunityId) -> Option<&UnitId> {
        self.community_default(community, |c| c.mediation_room.as_ref())
    }

    fn intake_unit(&self, community: &CommunityId) -> Option<&UnitId> {
        self.community_default(community, |c| c.intake_unit.as_ref())
    }
}
