//! The demo tenant's directory: a sub-district office of ten communities cut into three grids
//! each, and about forty units: its offices, a mediation room and a shared court, the police
//! station, a hospital and a school, property companies, and the 22 markets of its coordinated
//! response network (一呼百应). Built by the admin's own commands, so it holds what a kept
//! directory holds, and recorded as one seeding commit.

use docket_domain::Role;
use docket_domain::directory::{self, Directory, DirectoryCommand, DirectoryEvent};
use serde_json::{Value, json};

/// The communities (社区), by id and name; each has three grids.
const COMMUNITIES: [(&str, &str); 10] = [
    ("qinghe", "清河社区"),
    ("xisanqi", "西三旗社区"),
    ("shangdi", "上地社区"),
    ("maofang-north", "毛纺北小区社区"),
    ("maofang-south", "毛纺南小区社区"),
    ("anning", "安宁里社区"),
    ("meiheyuan", "美和园社区"),
    ("xuefushu", "学府树家园社区"),
    ("xiangshuwan", "橡树湾社区"),
    ("zhuxinzhuang", "朱辛庄社区"),
];

/// Grids per community.
const GRIDS_EACH: usize = 3;

/// How many grids the demo tenant has.
pub(crate) const GRIDS: usize = COMMUNITIES.len() * GRIDS_EACH;

/// The id of the demo tenant's `n`th grid (from 1).
pub(crate) fn grid(tenant: &str, n: usize) -> String {
    format!("{tenant}-{n:02}")
}

/// The community the `n`th grid (from 1) lies in.
pub(crate) fn community_of_grid(n: usize) -> &'static str {
    COMMUNITIES[(n - 1) / GRIDS_EACH].0
}

/// The units besides the markets: id suffix, name, kind, whether in the network.
const UNITS: [(&str, &str, &str, bool); 16] = [
    ("safety", "街道安全生产办公室", "office", true),
    ("urban", "街道城市管理办公室", "office", true),
    ("housing", "街道住房保障办公室", "office", true),
    ("labour", "街道劳动保障所", "office", true),
    ("environment", "街道环境保护所", "office", false),
    ("petition", "街道信访办公室", "office", false),
    (
        "mediation",
        "街道人民调解委员会调解室",
        "mediation-room",
        false,
    ),
    ("court", "共享法庭", "mediation-room", false),
    ("police", "清河派出所", "police-station", true),
    ("fire", "清河消防救援站", "office", true),
    ("hospital", "社区卫生服务中心", "hospital", false),
    ("school", "清河中学", "school", false),
    (
        "property-1",
        "清河物业管理有限公司",
        "property-company",
        true,
    ),
    ("property-2", "安宁物业服务公司", "property-company", true),
    ("property-3", "美和园物业", "property-company", true),
    ("water", "自来水供水站", "office", true),
];

/// The markets of the coordinated response network.
const MARKETS: usize = 22;

/// The admin's commands that set the directory up.
fn commands(tenant: &str) -> Vec<(&'static str, Value)> {
    let mut commands: Vec<(&'static str, Value)> = UNITS
        .iter()
        .map(|(id, name, kind, in_network)| {
            (
                "add-unit",
                json!({"id": format!("{tenant}-{id}"), "name": name, "unit_kind": kind,
                       "in_network": in_network}),
            )
        })
        .collect();
    commands.extend((1..=MARKETS).map(|n| {
        (
            "add-unit",
            json!({"id": format!("{tenant}-market-{n:02}"), "name": format!("第{n}农贸市场"),
                   "unit_kind": "market", "in_network": true}),
        )
    }));
    for (i, (id, name)) in COMMUNITIES.iter().enumerate() {
        commands.push((
            "add-community",
            json!({"id": id, "name": name, "mediation_room": format!("{tenant}-mediation"),
                   "intake_unit": format!("{tenant}-safety")}),
        ));
        for k in 1..=GRIDS_EACH {
            commands.push((
                "add-grid",
                json!({"id": grid(tenant, i * GRIDS_EACH + k), "name": format!("{name}第{k}网格"),
                       "community": id}),
            ));
        }
    }
    commands
}

/// The demo tenant's directory, as one seeding event.
pub(crate) fn seeded(tenant: &str) -> DirectoryEvent {
    let shipped = directory::seed_from_use([], [], [], []);
    let mut d = directory::evolve(Directory::default(), &shipped).expect("the shipped taxonomy");
    for (action, body) in commands(tenant) {
        let command = DirectoryCommand::parse(action, body).expect("the demo's own command");
        for event in directory::decide(&d, &command, Role::Admin).expect("the demo's directory") {
            d = directory::evolve(d, &event).expect("a decided event");
        }
    }
    directory::seed(d)
}

#[test]
fn the_demo_directory_is_a_sub_district_offices() {
    let d = directory::evolve(Directory::default(), &seeded("demo")).unwrap();
    assert_eq!(d.communities().count(), 10);
    assert_eq!(d.grids().count(), GRIDS);
    assert_eq!(d.units().count(), 38);
    let markets = d
        .units()
        .filter(|u| u.unit_kind == directory::UnitKind::Market && u.in_network)
        .count();
    assert_eq!(markets, MARKETS);
    for n in 1..=GRIDS {
        let g = d.grid(&grid("demo", n).parse().unwrap()).unwrap();
        assert_eq!(g.community.as_str(), community_of_grid(n));
    }
}
