use jiff::civil::date;

use super::*;

fn shanghai(s: &str) -> Timestamp {
    // A tenant-local wall time such as "2025-09-26 10:00".
    format!("{s}:00+08:00[Asia/Shanghai]")
        .replace(' ', "T")
        .parse::<jiff::ZonedDateTime>()
        .expect("a wall time")
        .timestamp()
}

fn policy() -> DeadlinePolicy {
    DeadlinePolicy::default()
}

#[test]
fn the_shipped_calendar_knows_national_day_2025_and_its_make_up_days() {
    let cal = WorkCalendar::official();
    assert!(cal.covers(2024) && cal.covers(2025) && cal.covers(2026));
    // Sunday 28 September and Saturday 11 October 2025 are make-up working days.
    assert!(cal.is_working_day(date(2025, 9, 28)));
    assert!(cal.is_working_day(date(2025, 10, 11)));
    // 1 to 8 October are holidays, weekdays included.
    for day in 1..=8 {
        assert!(!cal.is_working_day(date(2025, 10, day)), "2025-10-{day}");
    }
    // An ordinary weekend and an ordinary weekday.
    assert!(!cal.is_working_day(date(2025, 10, 18)));
    assert!(cal.is_working_day(date(2025, 10, 20)));
    // 2026: Spring Festival runs 15 to 23 February, with Saturday 14 and 28 February worked.
    assert!(cal.is_working_day(date(2026, 2, 14)));
    assert!(!cal.is_working_day(date(2026, 2, 23)));
    assert!(cal.is_working_day(date(2026, 2, 28)));
}

#[test]
fn fifteen_working_days_skip_a_national_holiday_and_count_make_up_days() {
    let policy = policy();
    let limit = Limit::working_days(15);
    // Started on Friday 26 September 2025. Working days after it: Sun 28 (make-up), 29, 30,
    // then 1-8 October off, 9, 10, Sat 11 (make-up), 13-17, 20-23: the 15th is 23 October.
    let started = shanghai("2025-09-26 16:30");
    assert_eq!(policy.last_day(started, limit), date(2025, 10, 23));
    assert_eq!(policy.due(started, limit), shanghai("2025-10-24 00:00"));
    // Without the calendar the same limit would end on 17 October.
    let mut plain = policy.clone();
    plain.calendar = WorkCalendar::weekdays_only();
    assert_eq!(plain.last_day(started, limit), date(2025, 10, 17));
}

#[test]
fn fifteen_calendar_days_ending_in_the_holiday_move_to_the_next_working_day() {
    let policy = policy();
    assert_eq!(policy.petition.accept, Limit::days(15));
    // 20 September + 15 days = 5 October, inside the holiday: the period ends on Thursday 9 October.
    let registered = shanghai("2025-09-20 09:00");
    assert_eq!(
        policy.last_day(registered, policy.petition.accept),
        date(2025, 10, 9)
    );
    // Ending on a make-up working day (Saturday 11 October) keeps that day.
    let registered = shanghai("2025-09-26 09:00");
    assert_eq!(
        policy.last_day(registered, policy.petition.accept),
        date(2025, 10, 11)
    );
}

#[test]
fn sixty_days_of_handling_extended_by_thirty() {
    let policy = policy();
    // Accepted 3 March 2025: + 60 days = 2 May, inside the Labour Day holiday (1-5 May), so the
    // period ends on Tuesday 6 May.
    let accepted = shanghai("2025-03-03 10:00");
    let due = policy.due(accepted, policy.petition.handle);
    assert_eq!(due, shanghai("2025-05-07 00:00"));
    // An approved 30-day extension moves that deadline by exactly 30 days.
    assert_eq!(policy.extended(due, 30), shanghai("2025-06-06 00:00"));
}

#[test]
fn a_day_ends_at_midnight_in_shanghai_not_in_utc() {
    let policy = policy();
    // 23:30 on 26 September in Shanghai is 15:30 UTC the same day; 00:30 on the 27th is 16:30
    // UTC on the 26th. They are different local days.
    assert_eq!(
        policy.local_day(shanghai("2025-09-26 23:30")),
        date(2025, 9, 26)
    );
    assert_eq!(
        policy.local_day(shanghai("2025-09-27 00:30")),
        date(2025, 9, 27)
    );
    assert_eq!(
        policy.end_of_day(date(2025, 9, 26)).to_string(),
        "2025-09-26T16:00:00Z"
    );
}

#[test]
fn one_working_day_from_a_friday_evening_is_the_next_monday() {
    let policy = policy();
    let reported = shanghai("2025-10-17 20:00");
    assert_eq!(
        policy.last_day(reported, policy.hazard.verify),
        date(2025, 10, 20)
    );
}

#[test]
fn limits_read_as_people_write_them() {
    assert_eq!("15 days".parse::<Limit>(), Ok(Limit::days(15)));
    assert_eq!("1 day".parse::<Limit>(), Ok(Limit::days(1)));
    assert_eq!("1 working day".parse::<Limit>(), Ok(Limit::working_days(1)));
    assert_eq!(
        "3 working days".parse::<Limit>(),
        Ok(Limit::working_days(3))
    );
    for bad in [
        "",
        "15",
        "fifteen days",
        "0 days",
        "15 weeks",
        "-3 days",
        "15 working",
    ] {
        assert!(bad.parse::<Limit>().is_err(), "{bad:?}");
    }
    assert_eq!(Limit::working_days(3).to_string(), "3 working days");
}

#[test]
fn a_policy_file_overrides_some_limits_and_keeps_the_rest() {
    let text = r#"
        time_zone = "Asia/Shanghai"
        [petition]
        accept = "10 days"
        [hazard]
        verify = "2 working days"
    "#;
    let policy = DeadlinePolicy::from_toml(text, |_| Err("not asked".into())).unwrap();
    assert_eq!(policy.petition.accept, Limit::days(10));
    assert_eq!(policy.petition.handle, Limit::days(60));
    assert_eq!(policy.hazard.verify, Limit::working_days(2));
    assert_eq!(policy.calendar, WorkCalendar::official());
}

#[test]
fn a_policy_file_names_its_own_calendar() {
    let text = r#"calendar = "mine.toml""#;
    let calendar = r#"
        [[year]]
        year = 2030
        source = "test"
        holidays = ["2030-01-01..2030-01-03"]
        make_up_workdays = ["2030-01-05"]
    "#;
    let policy = DeadlinePolicy::from_toml(text, |path| {
        assert_eq!(path, "mine.toml");
        Ok(calendar.to_owned())
    })
    .unwrap();
    assert!(policy.calendar.covers(2030));
    assert!(!policy.calendar.covers(2025));
    assert!(!policy.calendar.is_working_day(date(2030, 1, 2)));
    assert!(policy.calendar.is_working_day(date(2030, 1, 5)));
}

#[test]
fn bad_policy_files_say_what_is_wrong() {
    let err = |text: &str| {
        DeadlinePolicy::from_toml(text, |_| Ok(String::new()))
            .unwrap_err()
            .to_string()
    };
    assert!(err("[petition]\naccept = \"15 weeks\"").contains("15 weeks"));
    assert!(err("[petition]\nreply = \"15 days\"").contains("reply"));
    assert!(err("time_zone = \"Mars/Olympus\"").contains("time_zone"));
    let too_long = "[extensions.petition]\nceiling_days = 45\ntimes = 1";
    assert!(err(too_long).contains("at most 30 days"));
    // A tenant may shorten the petition limits of the law, never lengthen them.
    assert!(err("[petition]\nhandle = \"90 days\"").contains("petition.handle"));
    assert!(err("[petition]\naccept = \"15 working days\"").contains("petition.accept"));
}

#[test]
fn bad_calendars_say_what_is_wrong() {
    let err = |text: &str| WorkCalendar::from_toml(text).unwrap_err().to_string();
    assert!(err("[[year]]\nyear = 2025\nholidays = [\"2026-01-01\"]").contains("not in 2025"));
    assert!(err("[[year]]\nyear = 2025\nholidays = [\"2025-13-01\"]").contains("2025-13-01"));
    assert!(
        err("[[year]]\nyear = 2025\nholidays = [\"2025-10-08..2025-10-01\"]")
            .contains("ends before it starts")
    );
    assert!(
        err("[[year]]\nyear = 2025\nholidays = [\"2025-10-01\"]\nmake_up_workdays = [\"2025-10-01\"]")
            .contains("both")
    );
    assert!(err("[[year]]\nyear = 2025\n[[year]]\nyear = 2025").contains("twice"));
}

#[test]
fn the_example_policy_in_deploy_is_the_default_policy() {
    let text = include_str!("../../../../deploy/policy/default.toml");
    let policy = DeadlinePolicy::from_toml(text, |_| Err("names no calendar".into())).unwrap();
    assert_eq!(policy, DeadlinePolicy::default());
}

#[test]
fn a_limit_on_the_clock_is_minutes_or_hours_and_a_limit_in_days_still_reads() {
    let parse = |s: &str| s.parse::<TimeLimit>();
    assert_eq!(parse("30 minutes"), Ok(TimeLimit::Minutes(30)));
    assert_eq!(parse("1 minute"), Ok(TimeLimit::Minutes(1)));
    assert_eq!(parse("2 hours"), Ok(TimeLimit::hours(2)));
    assert_eq!(parse("7 days"), Ok(TimeLimit::Days(Limit::days(7))));
    assert_eq!(
        parse("1 working day"),
        Ok(TimeLimit::Days(Limit::working_days(1)))
    );
    assert!(
        parse("0 hours")
            .unwrap_err()
            .contains("between 1 minute and 90 days")
    );
    assert!(
        parse("3000 hours")
            .unwrap_err()
            .contains("between 1 minute and 90 days")
    );
    assert!(parse("soon").unwrap_err().contains("\"2 hours\""));
    assert!(parse("two hours").unwrap_err().contains("whole number"));
    for limit in ["30 minutes", "2 hours", "1 hour", "7 days", "1 working day"] {
        assert_eq!(parse(limit).unwrap().to_string(), limit);
    }
    // On the clock, a limit ignores the calendar: two hours from a Saturday morning.
    let policy = DeadlinePolicy::default();
    let saturday: Timestamp = "2025-03-08T02:00:00Z".parse().unwrap();
    assert_eq!(
        policy.due_within(saturday, TimeLimit::hours(2)),
        "2025-03-08T04:00:00Z".parse().unwrap()
    );
    assert_eq!(
        policy.due_within(saturday, TimeLimit::Days(Limit::working_days(1))),
        policy.due(saturday, Limit::working_days(1))
    );
}

#[test]
fn a_policy_sets_some_urgencies_and_the_others_keep_their_defaults() {
    let policy = DeadlinePolicy::from_toml(
        "[livelihood.check_in]\nemergency = \"15 minutes\"\n[livelihood.handle]\ngeneral = \"5 working days\"",
        |_| Err("names no calendar".into()),
    )
    .unwrap();
    let defaults = LivelihoodLimits::default();
    assert_eq!(policy.livelihood.check_in.emergency, TimeLimit::Minutes(15));
    assert_eq!(
        policy.livelihood.check_in.general,
        defaults.check_in.general
    );
    assert_eq!(
        policy.livelihood.handle.general,
        TimeLimit::Days(Limit::working_days(5))
    );
    assert_eq!(
        policy.livelihood.handle.emergency,
        defaults.handle.emergency
    );
    assert_eq!(policy.livelihood.rate, defaults.rate);
    let err = DeadlinePolicy::from_toml("[livelihood.handle]\nurgent = \"1 hour\"", |_| {
        Err("names no calendar".into())
    })
    .unwrap_err();
    assert!(err.to_string().contains("urgent"), "{err}");
}
