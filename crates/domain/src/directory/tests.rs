//! The directory's rules: given these events, when this command, then these events or this
//! refusal.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: fmt::Debug,
{
    s.parse().unwrap()
}

fn unit_added(unit: &str, name: &str, unit_kind: UnitKind) -> DirectoryEvent {
    DirectoryEvent::UnitAdded {
        id: id(unit),
        name: name.to_owned(),
        unit_kind,
        in_network: false,
    }
}

fn community_added(community: &str, name: &str, room: Option<&str>) -> DirectoryEvent {
    DirectoryEvent::CommunityAdded {
        id: id(community),
        name: name.to_owned(),
        mediation_room: room.map(id),
        intake_unit: None,
    }
}

fn grid_added(grid: &str, community: &str) -> DirectoryEvent {
    DirectoryEvent::GridAdded {
        id: id(grid),
        name: format!("{grid} 网格"),
        community: id(community),
    }
}

fn category_added(kind: CaseKind, category: &str) -> DirectoryEvent {
    DirectoryEvent::CategoryAdded {
        kind,
        id: id(category),
        name: category.to_uppercase(),
    }
}

/// A small directory: 清河 with its mediation room and one grid, 小营 with none, the street
/// office, the police station, two hazard categories.
fn qinghe() -> Vec<DirectoryEvent> {
    vec![
        unit_added("qinghe-tiaojie", "清河调解室", UnitKind::MediationRoom),
        unit_added("qinghe-pcs", "清河派出所", UnitKind::PoliceStation),
        unit_added("street-office", "街道综治办", UnitKind::Office),
        DirectoryEvent::CommunityAdded {
            id: id("qinghe"),
            name: "清河".to_owned(),
            mediation_room: Some(id("qinghe-tiaojie")),
            intake_unit: Some(id("street-office")),
        },
        community_added("xiaoying", "小营", None),
        grid_added("qinghe-01", "qinghe"),
        category_added(CaseKind::Hazard, "fire"),
        category_added(CaseKind::Hazard, "gas"),
    ]
}

fn with(
    mut events: Vec<DirectoryEvent>,
    more: impl IntoIterator<Item = DirectoryEvent>,
) -> Vec<DirectoryEvent> {
    events.extend(more);
    events
}

fn replay(events: &[DirectoryEvent]) -> Directory {
    events
        .iter()
        .try_fold(Directory::default(), evolve)
        .expect("given events replay")
}

/// The given/when/then harness.
struct Given(Vec<DirectoryEvent>);

fn given(events: impl IntoIterator<Item = DirectoryEvent>) -> Given {
    Given(events.into_iter().collect())
}

struct Then(Result<Vec<DirectoryEvent>, Refusal>);

impl Given {
    fn when(self, role: Role, command: DirectoryCommand) -> Then {
        Then(decide(&replay(&self.0), &command, role))
    }

    fn admin(self, command: DirectoryCommand) -> Then {
        self.when(Role::Admin, command)
    }
}

impl Then {
    #[track_caller]
    fn then(self, expected: impl IntoIterator<Item = DirectoryEvent>) {
        assert_eq!(self.0, Ok(expected.into_iter().collect()));
    }

    #[track_caller]
    fn then_refused(self, expected: Refusal) {
        assert_eq!(self.0, Err(expected));
    }

    /// The refusal names `field`; returns its reason.
    #[track_caller]
    fn then_invalid(self, field: &'static str) -> String {
        match self.0 {
            Err(Refusal::InvalidField { field: f, reason }) => {
                assert_eq!(f, field, "refused for {reason:?}");
                reason
            }
            other => panic!("expected {field} to be refused, got {other:?}"),
        }
    }
}

fn rename_community(community: &str, name: &str) -> DirectoryCommand {
    DirectoryCommand::RenameCommunity(Rename {
        id: id(community),
        name: name.to_owned(),
    })
}

fn set_units(community: &str, room: Option<&str>, intake: Option<&str>) -> DirectoryCommand {
    DirectoryCommand::SetCommunityUnits(SetCommunityUnits {
        id: id(community),
        mediation_room: room.map(id),
        intake_unit: intake.map(id),
    })
}

fn add_grid(grid: &str, community: &str) -> DirectoryCommand {
    DirectoryCommand::AddGrid(AddGrid {
        id: id(grid),
        name: "新网格".to_owned(),
        community: id(community),
    })
}

fn add_unit(unit: &str, unit_kind: UnitKind) -> DirectoryCommand {
    DirectoryCommand::AddUnit(AddUnit {
        id: id(unit),
        name: "新单位".to_owned(),
        unit_kind,
        in_network: true,
    })
}

fn update_unit(
    unit: &str,
    unit_kind: Option<UnitKind>,
    in_network: Option<bool>,
) -> DirectoryCommand {
    DirectoryCommand::UpdateUnit(UpdateUnit {
        id: id(unit),
        unit_kind,
        in_network,
    })
}

fn retire_community(community: &str) -> DirectoryCommand {
    DirectoryCommand::RetireCommunity(Retire { id: id(community) })
}

fn retire_grid(grid: &str) -> DirectoryCommand {
    DirectoryCommand::RetireGrid(Retire { id: id(grid) })
}

fn retire_unit(unit: &str) -> DirectoryCommand {
    DirectoryCommand::RetireUnit(Retire { id: id(unit) })
}

fn category(kind: CaseKind, category: &str) -> NamedCategory {
    NamedCategory {
        kind,
        id: id(category),
        name: "新类别".to_owned(),
    }
}

fn retire_category(kind: CaseKind, category: &str) -> DirectoryCommand {
    DirectoryCommand::RetireCategory(CategoryKey {
        kind,
        id: id(category),
    })
}

/// One command of every action, each of which the admin may take on [`qinghe`].
fn one_of_each() -> Vec<DirectoryCommand> {
    use DirectoryCommand as C;
    vec![
        C::AddCommunity(AddCommunity {
            id: id("anning"),
            name: "安宁".to_owned(),
            mediation_room: Some(id("qinghe-tiaojie")),
            intake_unit: None,
        }),
        rename_community("qinghe", "清河社区"),
        set_units("xiaoying", Some("qinghe-tiaojie"), Some("qinghe-pcs")),
        retire_community("xiaoying"),
        add_grid("qinghe-02", "qinghe"),
        C::RenameGrid(Rename {
            id: id("qinghe-01"),
            name: "清河一网格".to_owned(),
        }),
        retire_grid("qinghe-01"),
        add_unit("anning-market", UnitKind::Market),
        update_unit("qinghe-pcs", None, Some(true)),
        C::RenameUnit(Rename {
            id: id("qinghe-pcs"),
            name: "清河派出所（新）".to_owned(),
        }),
        retire_unit("qinghe-pcs"),
        C::AddCategory(category(CaseKind::Dispute, "parking")),
        C::RenameCategory(category(CaseKind::Hazard, "gas")),
        retire_category(CaseKind::Hazard, "gas"),
        set_area("qinghe-01", square()),
        set_notice(CaseKind::Hazard, "fire", Some("工作人员两小时内上门")),
    ]
}

fn point(latitude: f64, longitude: f64) -> Location {
    Location {
        latitude,
        longitude,
    }
}

/// A square around 清河 of about a kilometre.
fn square() -> Vec<Location> {
    vec![
        point(40.030, 116.320),
        point(40.030, 116.330),
        point(40.040, 116.330),
        point(40.040, 116.320),
    ]
}

fn set_area(grid: &str, area: Vec<Location>) -> DirectoryCommand {
    DirectoryCommand::SetGridArea(SetGridArea { id: id(grid), area })
}

fn set_notice(kind: CaseKind, category: &str, notice: Option<&str>) -> DirectoryCommand {
    DirectoryCommand::SetCategoryNotice(SetCategoryNotice {
        kind,
        id: id(category),
        notice: notice.map(str::to_owned),
    })
}

// ---- who keeps the directory ----

#[test]
fn only_the_admin_keeps_the_directory() {
    let commands = one_of_each();
    let actions: Vec<&str> = commands.iter().map(DirectoryCommand::action).collect();
    assert_eq!(actions, DirectoryCommand::ACTIONS);
    for command in commands {
        given(qinghe())
            .admin(command.clone())
            .0
            .unwrap_or_else(|r| panic!("{} refused: {r}", command.action()));
        for role in Role::ALL.into_iter().filter(|r| *r != Role::Admin) {
            given(qinghe())
                .when(role, command.clone())
                .then_refused(Refusal::RoleNotPermitted {
                    kind: "directory",
                    state: "kept",
                    action: command.action().to_owned(),
                    role,
                    allowed: vec![],
                });
        }
    }
}

// ---- adding ----

#[test]
fn the_admin_adds_a_community_with_its_default_units() {
    given(qinghe())
        .admin(DirectoryCommand::AddCommunity(AddCommunity {
            id: id("anning"),
            name: "  安宁  ".to_owned(),
            mediation_room: Some(id("qinghe-tiaojie")),
            intake_unit: Some(id("qinghe-pcs")),
        }))
        .then([DirectoryEvent::CommunityAdded {
            id: id("anning"),
            name: "安宁".to_owned(),
            mediation_room: Some(id("qinghe-tiaojie")),
            intake_unit: Some(id("qinghe-pcs")),
        }]);
}

#[test]
fn the_admin_adds_grids_units_and_categories() {
    given(qinghe())
        .admin(add_grid("xiaoying-01", "xiaoying"))
        .then([DirectoryEvent::GridAdded {
            id: id("xiaoying-01"),
            name: "新网格".to_owned(),
            community: id("xiaoying"),
        }]);
    given(qinghe())
        .admin(add_unit("xiaoying-school", UnitKind::School))
        .then([DirectoryEvent::UnitAdded {
            id: id("xiaoying-school"),
            name: "新单位".to_owned(),
            unit_kind: UnitKind::School,
            in_network: true,
        }]);
    // The same slug may name a category of each kind.
    given(qinghe())
        .admin(DirectoryCommand::AddCategory(category(
            CaseKind::Petition,
            "fire",
        )))
        .then([DirectoryEvent::CategoryAdded {
            kind: CaseKind::Petition,
            id: id("fire"),
            name: "新类别".to_owned(),
        }]);
}

#[test]
fn an_id_is_never_given_twice_even_once_retired() {
    let again = DirectoryCommand::AddCommunity(AddCommunity {
        id: id("xiaoying"),
        name: "小营".to_owned(),
        mediation_room: None,
        intake_unit: None,
    });
    let reason = given(qinghe()).admin(again.clone()).then_invalid("id");
    assert_eq!(
        reason,
        "community \"xiaoying\" is already in the directory; an id is never given twice"
    );
    let retired = with(
        qinghe(),
        [DirectoryEvent::CommunityRetired { id: id("xiaoying") }],
    );
    let reason = given(retired).admin(again).then_invalid("id");
    assert!(reason.contains("(retired)"), "{reason}");

    given(qinghe())
        .admin(add_grid("qinghe-01", "xiaoying"))
        .then_invalid("id");
    given(qinghe())
        .admin(add_unit("qinghe-pcs", UnitKind::Other))
        .then_invalid("id");
    let reason = given(qinghe())
        .admin(DirectoryCommand::AddCategory(category(
            CaseKind::Hazard,
            "gas",
        )))
        .then_invalid("id");
    assert!(reason.starts_with("hazard category \"gas\""), "{reason}");
}

#[test]
fn names_are_required_trimmed_and_at_most_100_characters() {
    let named = |name: &str| {
        DirectoryCommand::AddUnit(AddUnit {
            id: id("new-unit"),
            name: name.to_owned(),
            unit_kind: UnitKind::Other,
            in_network: false,
        })
    };
    given(qinghe()).admin(named("   ")).then_invalid("name");
    given(qinghe())
        .admin(named(&"名".repeat(101)))
        .then_invalid("name");
    // Blanks around a name do not count against it.
    let long = format!("  {}  ", "名".repeat(100));
    given(qinghe())
        .admin(named(&long))
        .then([DirectoryEvent::UnitAdded {
            id: id("new-unit"),
            name: "名".repeat(100),
            unit_kind: UnitKind::Other,
            in_network: false,
        }]);
    given(qinghe())
        .admin(rename_community("qinghe", ""))
        .then_invalid("name");
}

// ---- what a grid and a community name ----

#[test]
fn a_grid_is_in_a_community_in_service() {
    let reason = given(qinghe())
        .admin(add_grid("anning-01", "anning"))
        .then_invalid("community");
    assert_eq!(reason, "unknown community \"anning\"");
    let retired = with(
        qinghe(),
        [DirectoryEvent::CommunityRetired { id: id("xiaoying") }],
    );
    let reason = given(retired)
        .admin(add_grid("xiaoying-01", "xiaoying"))
        .then_invalid("community");
    assert_eq!(reason, "community \"xiaoying\" is retired");
}

#[test]
fn a_default_room_is_a_mediation_room_in_service() {
    let reason = given(qinghe())
        .admin(set_units("xiaoying", Some("qinghe-pcs"), None))
        .then_invalid("mediation_room");
    assert_eq!(
        reason,
        "unit \"qinghe-pcs\" is a police-station, not a mediation room"
    );
    given(qinghe())
        .admin(set_units("xiaoying", Some("nowhere"), None))
        .then_invalid("mediation_room");
    let retired_room = with(
        qinghe(),
        [
            unit_added("old-room", "旧调解室", UnitKind::MediationRoom),
            DirectoryEvent::UnitRetired { id: id("old-room") },
        ],
    );
    given(retired_room.clone())
        .admin(set_units("xiaoying", Some("old-room"), None))
        .then_invalid("mediation_room");
    // Any unit in service may take a community's intake.
    given(retired_room.clone())
        .admin(set_units("xiaoying", None, Some("old-room")))
        .then_invalid("intake_unit");
    given(qinghe())
        .admin(set_units("xiaoying", None, Some("nowhere")))
        .then_invalid("intake_unit");
    given(qinghe())
        .admin(DirectoryCommand::AddCommunity(AddCommunity {
            id: id("anning"),
            name: "安宁".to_owned(),
            mediation_room: Some(id("street-office")),
            intake_unit: None,
        }))
        .then_invalid("mediation_room");
}

#[test]
fn setting_a_communitys_units_replaces_both() {
    given(qinghe())
        .admin(set_units("qinghe", None, Some("qinghe-pcs")))
        .then([DirectoryEvent::CommunityUnitsSet {
            id: id("qinghe"),
            mediation_room: None,
            intake_unit: Some(id("qinghe-pcs")),
        }]);
    given(qinghe())
        .admin(set_units(
            "qinghe",
            Some("qinghe-tiaojie"),
            Some("street-office"),
        ))
        .then_invalid("id");
    given(qinghe())
        .admin(set_units("anning", None, None))
        .then_invalid("id");
    let retired = with(
        qinghe(),
        [DirectoryEvent::CommunityRetired { id: id("xiaoying") }],
    );
    given(retired)
        .admin(set_units("xiaoying", Some("qinghe-tiaojie"), None))
        .then_invalid("id");
}

// ---- renaming ----

#[test]
fn renaming_gives_a_new_name_and_only_a_new_one() {
    given(qinghe())
        .admin(rename_community("qinghe", " 清河社区 "))
        .then([DirectoryEvent::CommunityRenamed {
            id: id("qinghe"),
            name: "清河社区".to_owned(),
        }]);
    let reason = given(qinghe())
        .admin(rename_community("qinghe", "清河"))
        .then_invalid("name");
    assert_eq!(reason, "community \"qinghe\" is named \"清河\" already");
    let reason = given(qinghe())
        .admin(rename_community("anning", "安宁"))
        .then_invalid("id");
    assert_eq!(reason, "unknown community \"anning\"");
    given(qinghe())
        .admin(DirectoryCommand::RenameUnit(Rename {
            id: id("qinghe-safty"),
            name: "x".to_owned(),
        }))
        .then_invalid("id");
    given(qinghe())
        .admin(DirectoryCommand::RenameGrid(Rename {
            id: id("qinghe-09"),
            name: "x".to_owned(),
        }))
        .then_invalid("id");
    let reason = given(qinghe())
        .admin(DirectoryCommand::RenameCategory(category(
            CaseKind::Dispute,
            "fire",
        )))
        .then_invalid("id");
    assert_eq!(reason, "unknown dispute category \"fire\"");
}

#[test]
fn what_is_retired_may_still_be_renamed() {
    let retired = with(
        qinghe(),
        [DirectoryEvent::GridRetired {
            id: id("qinghe-01"),
        }],
    );
    given(retired)
        .admin(DirectoryCommand::RenameGrid(Rename {
            id: id("qinghe-01"),
            name: "清河一网格（已撤销）".to_owned(),
        }))
        .then([DirectoryEvent::GridRenamed {
            id: id("qinghe-01"),
            name: "清河一网格（已撤销）".to_owned(),
        }]);
}

// ---- updating a unit ----

#[test]
fn updating_a_unit_records_its_kind_and_network_as_they_are_now() {
    given(qinghe())
        .admin(update_unit("qinghe-pcs", None, Some(true)))
        .then([DirectoryEvent::UnitUpdated {
            id: id("qinghe-pcs"),
            unit_kind: UnitKind::PoliceStation,
            in_network: true,
        }]);
    given(qinghe())
        .admin(update_unit(
            "qinghe-pcs",
            Some(UnitKind::PoliceStation),
            Some(false),
        ))
        .then_invalid("id");
    given(qinghe())
        .admin(update_unit("qinghe-pcs", None, None))
        .then_invalid("id");
    given(qinghe())
        .admin(update_unit("qinghe-safty", None, Some(true)))
        .then_invalid("id");
}

#[test]
fn a_communitys_room_stays_a_mediation_room() {
    let reason = given(qinghe())
        .admin(update_unit("qinghe-tiaojie", Some(UnitKind::Office), None))
        .then_invalid("unit_kind");
    assert!(reason.contains("community \"qinghe\""), "{reason}");
    // Its part in the network may change.
    given(qinghe())
        .admin(update_unit("qinghe-tiaojie", None, Some(true)))
        .then([DirectoryEvent::UnitUpdated {
            id: id("qinghe-tiaojie"),
            unit_kind: UnitKind::MediationRoom,
            in_network: true,
        }]);
}

// ---- retiring ----

#[test]
fn a_community_with_grids_in_service_is_not_retired() {
    let reason = given(qinghe())
        .admin(retire_community("qinghe"))
        .then_invalid("id");
    assert_eq!(
        reason,
        "community \"qinghe\" still has grids in service (qinghe-01); retire its grids first"
    );
    let grid_retired = with(
        qinghe(),
        [DirectoryEvent::GridRetired {
            id: id("qinghe-01"),
        }],
    );
    given(grid_retired)
        .admin(retire_community("qinghe"))
        .then([DirectoryEvent::CommunityRetired { id: id("qinghe") }]);
}

#[test]
fn what_is_retired_or_unknown_is_not_retired() {
    let retired = with(
        qinghe(),
        [
            DirectoryEvent::GridRetired {
                id: id("qinghe-01"),
            },
            DirectoryEvent::CommunityRetired { id: id("xiaoying") },
            DirectoryEvent::UnitRetired {
                id: id("qinghe-pcs"),
            },
            DirectoryEvent::CategoryRetired {
                kind: CaseKind::Hazard,
                id: id("gas"),
            },
        ],
    );
    for command in [
        retire_grid("qinghe-01"),
        retire_community("xiaoying"),
        retire_unit("qinghe-pcs"),
        retire_category(CaseKind::Hazard, "gas"),
    ] {
        let reason = given(retired.clone()).admin(command).then_invalid("id");
        assert!(reason.ends_with("is retired already"), "{reason}");
    }
    for command in [
        retire_grid("nowhere"),
        retire_community("nowhere"),
        retire_unit("nowhere"),
        retire_category(CaseKind::Dispute, "fire"),
    ] {
        let reason = given(qinghe()).admin(command).then_invalid("id");
        assert!(reason.starts_with("unknown"), "{reason}");
    }
}

#[test]
fn a_communitys_default_unit_is_retired_once_the_community_names_another() {
    let reason = given(qinghe())
        .admin(retire_unit("qinghe-tiaojie"))
        .then_invalid("id");
    assert_eq!(
        reason,
        "unit \"qinghe-tiaojie\" is the default mediation room of community \"qinghe\": it cannot be retired until the community names another"
    );
    let reason = given(qinghe())
        .admin(retire_unit("street-office"))
        .then_invalid("id");
    assert!(
        reason.contains("the default intake unit of community \"qinghe\""),
        "{reason}"
    );
    let moved = with(
        qinghe(),
        [DirectoryEvent::CommunityUnitsSet {
            id: id("qinghe"),
            mediation_room: None,
            intake_unit: Some(id("street-office")),
        }],
    );
    given(moved)
        .admin(retire_unit("qinghe-tiaojie"))
        .then([DirectoryEvent::UnitRetired {
            id: id("qinghe-tiaojie"),
        }]);
    // A retired community's defaults hold nothing up.
    let community_retired = with(
        qinghe(),
        [
            DirectoryEvent::GridRetired {
                id: id("qinghe-01"),
            },
            DirectoryEvent::CommunityRetired { id: id("qinghe") },
        ],
    );
    given(community_retired)
        .admin(retire_unit("qinghe-tiaojie"))
        .then([DirectoryEvent::UnitRetired {
            id: id("qinghe-tiaojie"),
        }]);
}

#[test]
fn a_kind_keeps_one_category_in_service() {
    let one_left = with(
        qinghe(),
        [DirectoryEvent::CategoryRetired {
            kind: CaseKind::Hazard,
            id: id("gas"),
        }],
    );
    let reason = given(one_left)
        .admin(retire_category(CaseKind::Hazard, "fire"))
        .then_invalid("id");
    assert!(reason.contains("the last in service"), "{reason}");
}

// ---- reading the directory ----

#[test]
fn retired_names_are_still_read_and_listed() {
    let d = replay(&with(
        qinghe(),
        [
            DirectoryEvent::GridRetired {
                id: id("qinghe-01"),
            },
            DirectoryEvent::UnitRetired {
                id: id("qinghe-pcs"),
            },
            DirectoryEvent::CategoryRetired {
                kind: CaseKind::Hazard,
                id: id("gas"),
            },
        ],
    ));
    assert_eq!(d.grid_name(&id("qinghe-01")), Some("qinghe-01 网格"));
    assert_eq!(d.unit_name(&id("qinghe-pcs")), Some("清河派出所"));
    assert_eq!(d.category_name(CaseKind::Hazard, &id("gas")), Some("GAS"));
    assert_eq!(d.community_name(&id("qinghe")), Some("清河"));
    assert_eq!(d.community_name(&id("anning")), None);
    assert_eq!(d.category_name(CaseKind::Dispute, &id("gas")), None);

    let units: Vec<(&str, bool)> = d.units().map(|u| (u.id.as_str(), u.retired)).collect();
    assert_eq!(
        units,
        [
            ("qinghe-pcs", true),
            ("qinghe-tiaojie", false),
            ("street-office", false)
        ]
    );
    let grids: Vec<bool> = d.grids_in(&id("qinghe")).map(|g| g.retired).collect();
    assert_eq!(grids, [true]);
    assert_eq!(d.communities().count(), 2);
    assert_eq!(d.categories(CaseKind::Hazard).count(), 2);
    assert_eq!(d.all_categories().count(), 2);
    assert_eq!(d.categories(CaseKind::Petition).count(), 0);
}

#[test]
fn a_filing_is_checked_against_the_directory() {
    let d = replay(&with(
        qinghe(),
        [DirectoryEvent::UnitRetired {
            id: id("qinghe-pcs"),
        }],
    ));
    assert_eq!(d.check_community("community", &id("qinghe")), Ok(()));
    assert_eq!(
        d.check_community("community", &id("anning")),
        Err(Refusal::invalid(
            "community",
            "unknown community \"anning\""
        ))
    );
    assert_eq!(
        d.check_grid("grid", &id("qinghe-01"), &id("qinghe")),
        Ok(())
    );
    assert_eq!(
        d.check_grid("grid", &id("qinghe-01"), &id("xiaoying")),
        Err(Refusal::invalid(
            "grid",
            "grid \"qinghe-01\" is in community \"qinghe\", not \"xiaoying\""
        ))
    );
    assert_eq!(
        d.check_unit("unit", &id("qinghe-safty")),
        Err(Refusal::invalid("unit", "unknown unit \"qinghe-safty\""))
    );
    assert_eq!(
        d.check_unit("unit", &id("qinghe-pcs")),
        Err(Refusal::invalid("unit", "unit \"qinghe-pcs\" is retired"))
    );
    assert_eq!(d.check_unit("unit", &id("street-office")), Ok(()));
    assert_eq!(
        d.check_category("category", CaseKind::Hazard, &id("gas")),
        Ok(())
    );
    assert_eq!(
        d.check_category("category", CaseKind::Hazard, &id("parking")),
        Err(Refusal::invalid(
            "category",
            "unknown hazard category \"parking\"; hazard categories in service: fire, gas"
        ))
    );
    assert_eq!(
        d.check_category("dispute_type", CaseKind::Dispute, &id("fire")),
        Err(Refusal::invalid(
            "dispute_type",
            "unknown dispute category \"fire\"; dispute categories in service: none"
        ))
    );
}

#[test]
fn a_directory_reads_back_from_json() {
    let d = replay(&qinghe());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["categories"]["hazard"]["fire"]["name"], "FIRE");
    assert_eq!(serde_json::from_value::<Directory>(json).unwrap(), d);
    assert!(Directory::default().is_empty());
    assert!(!d.is_empty());
}

// ---- the shipped taxonomies ----

#[test]
fn every_kind_ships_a_taxonomy_of_distinct_categories_ending_in_other() {
    let shipped = shipped_categories();
    for kind in CaseKind::ALL {
        let slugs: Vec<&str> = shipped
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, slug, _)| slug.as_str())
            .collect();
        assert!(slugs.len() > 1, "{kind} ships no taxonomy");
        assert_eq!(slugs.last(), Some(&"other"), "{kind}");
        let mut distinct = slugs.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), slugs.len(), "{kind}: {slugs:?}");
    }
    assert!(shipped.iter().all(|(_, _, name)| !name.is_empty()));
}

// ---- seeding ----

#[test]
fn a_directory_is_seeded_from_the_ids_in_use() {
    let event = seed_from_use(
        [id("xiaoying"), id("qinghe"), id("qinghe")],
        [
            (id("qinghe-01"), id("qinghe")),
            (id("qinghe-01"), id("xiaoying")),
            (id("anning-01"), id("anning")),
        ],
        [
            id("street-office"),
            id("qinghe-tiaojie"),
            id("mediation-centre"),
        ],
        [
            (CaseKind::Hazard, id("fire")),
            (CaseKind::Dispute, id("parking")),
        ],
    );
    let d = replay(std::slice::from_ref(&event));
    let communities: Vec<(&str, &str)> = d
        .communities()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(
        communities,
        [
            ("anning", "anning"),
            ("qinghe", "qinghe"),
            ("xiaoying", "xiaoying")
        ]
    );
    // A grid seen in two communities stays in the first.
    assert_eq!(d.grid(&id("qinghe-01")).unwrap().community, id("qinghe"));
    let units: Vec<(&str, UnitKind)> = d.units().map(|u| (u.id.as_str(), u.unit_kind)).collect();
    assert_eq!(
        units,
        [
            ("mediation-centre", UnitKind::MediationRoom),
            ("qinghe-tiaojie", UnitKind::MediationRoom),
            ("street-office", UnitKind::Other),
        ]
    );
    assert_eq!(d.category_name(CaseKind::Hazard, &id("fire")), Some("消防"));
    assert_eq!(
        d.category_name(CaseKind::Dispute, &id("parking")),
        Some("parking")
    );
    assert_eq!(d.all_categories().count(), shipped_categories().len() + 1);
    assert!(d.all_categories().all(|c| !c.retired));

    // The same ids in another order seed the same.
    let reordered = seed_from_use(
        [id("qinghe"), id("xiaoying")],
        [
            (id("anning-01"), id("anning")),
            (id("qinghe-01"), id("qinghe")),
        ],
        [
            id("mediation-centre"),
            id("street-office"),
            id("qinghe-tiaojie"),
        ],
        [
            (CaseKind::Dispute, id("parking")),
            (CaseKind::Hazard, id("fire")),
        ],
    );
    assert_eq!(reordered, event);
}

#[test]
fn a_seed_leaves_what_is_kept_as_it_is() {
    let d = replay(&with(
        qinghe(),
        [seed_from_use(
            [id("qinghe"), id("anning")],
            [],
            [id("qinghe-pcs")],
            [(CaseKind::Hazard, id("fire"))],
        )],
    ));
    assert_eq!(d.community_name(&id("qinghe")), Some("清河"));
    assert_eq!(d.community_name(&id("anning")), Some("anning"));
    assert_eq!(
        d.unit(&id("qinghe-pcs")).unwrap().unit_kind,
        UnitKind::PoliceStation
    );
    assert_eq!(d.category_name(CaseKind::Hazard, &id("fire")), Some("FIRE"));
    assert_eq!(d.category_name(CaseKind::Hazard, &id("gas")), Some("GAS"));
    assert_eq!(
        d.category_name(CaseKind::Hazard, &id("electrical")),
        Some("电气")
    );
}

#[test]
fn a_directory_kept_elsewhere_is_seeded_whole() {
    let kept = replay(&with(
        qinghe(),
        [
            DirectoryEvent::GridRetired {
                id: id("qinghe-01"),
            },
            DirectoryEvent::UnitRetired {
                id: id("qinghe-pcs"),
            },
        ],
    ));
    let event = seed(kept.clone());
    assert_eq!(replay(std::slice::from_ref(&event)), kept);
    let (event_type, _, _) = event.to_record();
    assert_eq!(event_type, "directory.seeded");
}

// ---- the log ----

fn one_event_of_each() -> Vec<DirectoryEvent> {
    let mut events = qinghe();
    events.extend([
        DirectoryEvent::CommunityRenamed {
            id: id("qinghe"),
            name: "清河社区".to_owned(),
        },
        DirectoryEvent::CommunityUnitsSet {
            id: id("xiaoying"),
            mediation_room: Some(id("qinghe-tiaojie")),
            intake_unit: None,
        },
        DirectoryEvent::GridRenamed {
            id: id("qinghe-01"),
            name: "一网格".to_owned(),
        },
        DirectoryEvent::GridRetired {
            id: id("qinghe-01"),
        },
        DirectoryEvent::CommunityRetired { id: id("qinghe") },
        DirectoryEvent::UnitUpdated {
            id: id("qinghe-pcs"),
            unit_kind: UnitKind::PoliceStation,
            in_network: true,
        },
        DirectoryEvent::UnitRenamed {
            id: id("qinghe-pcs"),
            name: "派出所".to_owned(),
        },
        DirectoryEvent::UnitRetired {
            id: id("qinghe-pcs"),
        },
        DirectoryEvent::CategoryRenamed {
            kind: CaseKind::Hazard,
            id: id("gas"),
            name: "燃气".to_owned(),
        },
        DirectoryEvent::CategoryRetired {
            kind: CaseKind::Hazard,
            id: id("gas"),
        },
        seed_from_use([id("anning")], [], [], []),
    ]);
    events
}

#[test]
fn every_event_round_trips_through_its_log_record() {
    let events = one_event_of_each();
    let mut types: Vec<String> = Vec::new();
    for event in &events {
        let (event_type, version, data) = event.to_record();
        assert_eq!(version, 1);
        assert_eq!(
            DirectoryEvent::from_record(&event_type, version, &data).as_ref(),
            Ok(event)
        );
        if !types.contains(&event_type) {
            types.push(event_type);
        }
    }
    types.sort();
    assert_eq!(
        types,
        [
            "directory.category_added",
            "directory.category_renamed",
            "directory.category_retired",
            "directory.community_added",
            "directory.community_renamed",
            "directory.community_retired",
            "directory.community_units_set",
            "directory.grid_added",
            "directory.grid_renamed",
            "directory.grid_retired",
            "directory.seeded",
            "directory.unit_added",
            "directory.unit_renamed",
            "directory.unit_retired",
            "directory.unit_updated",
        ]
    );
    // The events replay, in this order.
    replay(&events);

    let (_, _, data) = events[0].to_record();
    assert!(DirectoryEvent::from_record("directory.unit_exploded", 1, &data).is_err());
    assert!(DirectoryEvent::from_record("directory.unit_added", 2, &data).is_err());
    assert!(DirectoryEvent::from_record("hazard.unit_added", 1, &data).is_err());
    assert!(DirectoryEvent::from_record("directoryunit_added", 1, &data).is_err());
}

#[test]
fn replay_refuses_only_what_cannot_be_replayed() {
    let d = replay(&qinghe());
    for event in [
        DirectoryEvent::CommunityRenamed {
            id: id("anning"),
            name: "安宁".to_owned(),
        },
        grid_added("anning-01", "anning"),
        community_added("anning", "安宁", Some("nowhere")),
        DirectoryEvent::UnitRetired { id: id("nowhere") },
        DirectoryEvent::CategoryRetired {
            kind: CaseKind::Dispute,
            id: id("fire"),
        },
        unit_added("qinghe-pcs", "again", UnitKind::Other),
        DirectoryEvent::Seeded {
            communities: vec![],
            grids: vec![Grid {
                id: id("anning-01"),
                name: "安宁一网格".to_owned(),
                community: id("anning"),
                retired: false,
                area: Vec::new(),
            }],
            units: vec![],
            categories: vec![],
        },
    ] {
        assert!(evolve(d.clone(), &event).is_err(), "{event:?} replayed");
    }
    // A fact the rules would refuse now is still a fact.
    let retired_twice = with(
        qinghe(),
        [DirectoryEvent::GridRetired {
            id: id("qinghe-01"),
        }],
    );
    assert!(
        evolve(
            replay(&retired_twice),
            &DirectoryEvent::GridRetired {
                id: id("qinghe-01")
            }
        )
        .is_ok()
    );
}

// ---- reading requests ----

#[test]
fn a_request_names_the_field_at_fault() {
    let cmd = DirectoryCommand::parse(
        "add-unit",
        json!({ "id": "qinghe-pcs", "name": "派出所", "unit_kind": "police-station" }),
    )
    .unwrap();
    assert_eq!(
        cmd,
        DirectoryCommand::AddUnit(AddUnit {
            id: id("qinghe-pcs"),
            name: "派出所".to_owned(),
            unit_kind: UnitKind::PoliceStation,
            in_network: false,
        })
    );
    let field =
        |action: &str, body: Value| DirectoryCommand::parse(action, body).unwrap_err().field;
    assert_eq!(
        field(
            "add-unit",
            json!({ "id": "u", "name": "n", "unit_kind": "bank" })
        )
        .as_deref(),
        Some("unit_kind")
    );
    assert_eq!(
        field("add-grid", json!({ "id": "g", "community": "c" })).as_deref(),
        Some("name")
    );
    assert_eq!(
        field("rename-grid", json!({ "id": "G 1", "name": "n" })).as_deref(),
        Some("id")
    );
    assert_eq!(
        field("retire-grid", json!({ "id": "g", "colour": "red" })).as_deref(),
        Some("colour")
    );
    assert_eq!(field("retire-grid", Value::Null).as_deref(), Some("id"));
    assert_eq!(
        field(
            "add-category",
            json!({ "kind": "parking", "id": "x", "name": "n" })
        )
        .as_deref(),
        Some("kind")
    );
    let err = DirectoryCommand::parse("delete-community", json!({})).unwrap_err();
    assert!(err.message.contains("add-community"), "{}", err.message);
    assert!(DirectoryCommand::parse("retire-grid", json!([])).is_err());
}

#[test]
fn every_command_reads_back_from_its_action_and_input() {
    for command in one_of_each() {
        let tagged = serde_json::to_value(&command).unwrap();
        assert_eq!(tagged["action"], command.action());
        let read = DirectoryCommand::parse(command.action(), tagged["input"].clone());
        assert_eq!(read, Ok(command));
    }
}

// ---- any history ----

/// What a kept directory always holds: grids in service are in communities in service, and a
/// community in service names units in service, its room a mediation room.
fn holds_together(d: &Directory) -> bool {
    let grids = d
        .grids()
        .filter(|g| !g.retired)
        .all(|g| d.community(&g.community).is_some_and(|c| !c.retired));
    let communities = d.communities().filter(|c| !c.retired).all(|c| {
        let room = c.mediation_room.as_ref().is_none_or(|r| {
            d.unit(r)
                .is_some_and(|u| !u.retired && u.unit_kind == UnitKind::MediationRoom)
        });
        let intake = c
            .intake_unit
            .as_ref()
            .is_none_or(|u| d.unit(u).is_some_and(|u| !u.retired));
        room && intake
    });
    grids && communities
}

fn any_command() -> impl Strategy<Value = DirectoryCommand> {
    use DirectoryCommand as C;
    let community =
        || prop::sample::select(vec!["qinghe", "xiaoying", "anning"]).prop_map(id::<CommunityId>);
    let grid = || prop::sample::select(vec!["g1", "g2", "g3"]).prop_map(id::<GridId>);
    let unit = || prop::sample::select(vec!["room", "police", "office"]).prop_map(id::<UnitId>);
    let some_unit = || prop::option::of(unit());
    let category =
        || prop::sample::select(vec!["fire", "parking", "noise"]).prop_map(id::<CategoryId>);
    let kind = || prop::sample::select(CaseKind::ALL.to_vec());
    let unit_kind = || prop::sample::select(UnitKind::ALL.to_vec());
    let name = || prop::sample::select(vec!["清河", "小营", " ", "安宁"]).prop_map(str::to_owned);
    prop_oneof![
        (community(), name(), some_unit(), some_unit()).prop_map(
            |(id, name, mediation_room, intake_unit)| {
                C::AddCommunity(AddCommunity {
                    id,
                    name,
                    mediation_room,
                    intake_unit,
                })
            }
        ),
        (community(), name()).prop_map(|(id, name)| C::RenameCommunity(Rename { id, name })),
        (community(), some_unit(), some_unit()).prop_map(|(id, mediation_room, intake_unit)| {
            C::SetCommunityUnits(SetCommunityUnits {
                id,
                mediation_room,
                intake_unit,
            })
        }),
        community().prop_map(|id| C::RetireCommunity(Retire { id })),
        (grid(), name(), community()).prop_map(|(id, name, community)| C::AddGrid(AddGrid {
            id,
            name,
            community
        })),
        (grid(), name()).prop_map(|(id, name)| C::RenameGrid(Rename { id, name })),
        grid().prop_map(|id| C::RetireGrid(Retire { id })),
        (unit(), name(), unit_kind(), any::<bool>()).prop_map(
            |(id, name, unit_kind, in_network)| {
                C::AddUnit(AddUnit {
                    id,
                    name,
                    unit_kind,
                    in_network,
                })
            }
        ),
        (
            unit(),
            prop::option::of(unit_kind()),
            prop::option::of(any::<bool>())
        )
            .prop_map(|(id, unit_kind, in_network)| C::UpdateUnit(UpdateUnit {
                id,
                unit_kind,
                in_network
            })),
        (unit(), name()).prop_map(|(id, name)| C::RenameUnit(Rename { id, name })),
        unit().prop_map(|id| C::RetireUnit(Retire { id })),
        (kind(), category(), name()).prop_map(|(kind, id, name)| C::AddCategory(NamedCategory {
            kind,
            id,
            name
        })),
        (kind(), category(), name())
            .prop_map(|(kind, id, name)| C::RenameCategory(NamedCategory { kind, id, name })),
        (kind(), category()).prop_map(|(kind, id)| C::RetireCategory(CategoryKey { kind, id })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Whatever the admin does, the log replays to the directory each decision saw, and the
    /// directory holds together.
    #[test]
    fn decided_commands_replay_to_the_directory_decided_on(
        seeded_first in any::<bool>(),
        commands in prop::collection::vec(any_command(), 0..60),
    ) {
        let mut directory = Directory::default();
        let mut log = Vec::new();
        if seeded_first {
            let seed = seed_from_use([id("qinghe")], [(id("g1"), id("qinghe"))], [id("room")], []);
            directory = evolve(directory, &seed).unwrap();
            log.push(seed);
        }
        for command in &commands {
            match decide(&directory, command, Role::Admin) {
                Ok(events) => {
                    prop_assert_eq!(events.len(), 1);
                    for event in events {
                        directory = evolve(directory, &event).unwrap();
                        log.push(event);
                    }
                }
                Err(refusal) => prop_assert!(!refusal.to_string().is_empty()),
            }
            prop_assert!(holds_together(&directory), "{:?}", directory);
            // What the decision saw is what the log so far replays to.
            let replayed = log
                .iter()
                .map(|e| {
                    let (event_type, version, data) = e.to_record();
                    DirectoryEvent::from_record(&event_type, version, &data).unwrap()
                })
                .try_fold(Directory::default(), |d, e| evolve(d, &e))
                .unwrap();
            prop_assert_eq!(&replayed, &directory);
        }
    }
}

// ---- areas and notices, for residents' reports ----

#[test]
fn a_grid_drawn_on_the_map_covers_the_points_within_its_area() {
    given(qinghe())
        .admin(set_area("qinghe-01", square()))
        .then([DirectoryEvent::GridAreaSet {
            id: id("qinghe-01"),
            area: square(),
        }]);
    let d = replay(&with(
        qinghe(),
        [DirectoryEvent::GridAreaSet {
            id: id("qinghe-01"),
            area: square(),
        }],
    ));
    let grid = d.grid(&id("qinghe-01")).unwrap();
    assert!(grid.covers(&point(40.035, 116.325)));
    assert!(!grid.covers(&point(40.045, 116.325)), "north of it");
    assert!(!grid.covers(&point(40.035, 116.335)), "east of it");
    // An L-shaped area: the notch is outside.
    let mut l_shape = d.grid(&id("qinghe-01")).unwrap().clone();
    l_shape.area = vec![
        point(0.0, 0.0),
        point(0.0, 2.0),
        point(1.0, 2.0),
        point(1.0, 1.0),
        point(2.0, 1.0),
        point(2.0, 0.0),
    ];
    assert!(l_shape.covers(&point(0.5, 1.5)));
    assert!(l_shape.covers(&point(1.5, 0.5)));
    assert!(!l_shape.covers(&point(1.5, 1.5)), "the notch");
    // Without an area, a grid covers nothing.
    assert!(
        !replay(&qinghe())
            .grid(&id("qinghe-01"))
            .unwrap()
            .covers(&point(40.035, 116.325))
    );
}

#[test]
fn an_area_has_three_corners_or_none_each_on_the_globe() {
    given(qinghe())
        .admin(set_area("qinghe-01", square()[..2].to_vec()))
        .then_invalid("area");
    given(qinghe())
        .admin(set_area(
            "qinghe-01",
            vec![point(95.0, 1.0), point(1.0, 1.0), point(1.0, 2.0)],
        ))
        .then_invalid("area");
    given(qinghe())
        .admin(set_area("qinghe-09", square()))
        .then_invalid("id");
    given(qinghe())
        .admin(set_area("qinghe-01", Vec::new()))
        .then([DirectoryEvent::GridAreaSet {
            id: id("qinghe-01"),
            area: Vec::new(),
        }]);
}

#[test]
fn a_category_tells_residents_what_to_expect() {
    given(qinghe())
        .admin(set_notice(
            CaseKind::Hazard,
            "fire",
            Some("  工作人员两小时内上门 "),
        ))
        .then([DirectoryEvent::CategoryNoticeSet {
            kind: CaseKind::Hazard,
            id: id("fire"),
            notice: Some("工作人员两小时内上门".to_owned()),
        }]);
    given(qinghe())
        .admin(set_notice(CaseKind::Hazard, "fire", Some(" ")))
        .then([DirectoryEvent::CategoryNoticeSet {
            kind: CaseKind::Hazard,
            id: id("fire"),
            notice: None,
        }]);
    given(qinghe())
        .admin(set_notice(
            CaseKind::Hazard,
            "fire",
            Some(&"长".repeat(MAX_NOTICE + 1)),
        ))
        .then_invalid("notice");
    given(qinghe())
        .admin(set_notice(CaseKind::Dispute, "fire", Some("x")))
        .then_invalid("id");
    let d = replay(&with(
        qinghe(),
        [DirectoryEvent::CategoryNoticeSet {
            kind: CaseKind::Hazard,
            id: id("fire"),
            notice: Some("两小时内上门".to_owned()),
        }],
    ));
    assert_eq!(
        d.category(CaseKind::Hazard, &id("fire"))
            .unwrap()
            .notice
            .as_deref(),
        Some("两小时内上门")
    );
}
