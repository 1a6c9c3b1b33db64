use super::*;

fn details(name: &str, id_number: Option<&str>) -> PersonalDetails {
    PersonalDetails {
        name: name.to_owned(),
        id_number: id_number.map(str::to_owned),
        phone: Some("13812345678".to_owned()),
        address: Some("北京市海淀区清河路12号".to_owned()),
        email: None,
    }
}

#[tokio::test]
async fn a_sealed_person_opens_with_their_key_only_until_it_is_destroyed() {
    let vault = Vault::in_memory().await.unwrap();
    let zhang = details("张三丰", Some("11010519491231002X"));
    let sealed = vault.seal("qinghe", &zhang).await.unwrap();
    assert!(!sealed.sealed.contains("张"), "{}", sealed.sealed);
    assert_eq!(
        vault.unseal("qinghe", &sealed).await.unwrap(),
        Some(zhang.clone())
    );
    // Bound to its tenant: another tenant's vault entry cannot open it.
    assert_eq!(vault.unseal("elsewhere", &sealed).await.unwrap(), None);
    // A tampered seal does not open.
    let mut tampered = sealed.clone();
    tampered.sealed.replace_range(
        10..11,
        if &tampered.sealed[10..11] == "A" {
            "B"
        } else {
            "A"
        },
    );
    assert!(vault.unseal("qinghe", &tampered).await.is_err());

    assert!(vault.erase("qinghe", sealed.person).await.unwrap());
    assert_eq!(vault.unseal("qinghe", &sealed).await.unwrap(), None);
    assert!(
        !vault.erase("qinghe", sealed.person).await.unwrap(),
        "nothing left to erase"
    );
    // After erasure the same ID number is a new person: nothing recognises the old one.
    assert_eq!(
        vault.find("qinghe", "11010519491231002X").await.unwrap(),
        None
    );
    let again = vault.seal("qinghe", &zhang).await.unwrap();
    assert_ne!(again.person, sealed.person);
}

#[tokio::test]
async fn the_same_id_number_is_the_same_person_and_no_number_is_always_someone_new() {
    let vault = Vault::in_memory().await.unwrap();
    let a = vault
        .seal("qinghe", &details("张三", Some("11010519491231002x")))
        .await
        .unwrap();
    let b = vault
        .seal("qinghe", &details("张三", Some(" 11010519491231002X")))
        .await
        .unwrap();
    assert_eq!(a.person, b.person);
    assert_ne!(a.sealed, b.sealed, "a fresh nonce each time");
    assert_eq!(
        vault.find("qinghe", "11010519491231002X").await.unwrap(),
        Some(a.person)
    );
    let other_tenant = vault
        .seal("elsewhere", &details("张三", Some("11010519491231002X")))
        .await
        .unwrap();
    assert_ne!(other_tenant.person, a.person, "tenants do not share people");
    let c = vault.seal("qinghe", &details("李四", None)).await.unwrap();
    let d = vault.seal("qinghe", &details("李四", None)).await.unwrap();
    assert_ne!(c.person, d.person);
}

#[tokio::test]
async fn render_shows_clear_masked_or_nothing_and_names_who_was_seen() {
    let vault = Vault::in_memory().await.unwrap();
    let sealed = vault
        .seal("qinghe", &details("张三丰", None))
        .await
        .unwrap();
    let doc = json!({"case": {"parties": [{"side": "applicant", "who": sealed}]}, "other": "x"});

    let mut clear = doc.clone();
    let shown = vault
        .render("qinghe", &mut clear, Disclosure::Clear)
        .await
        .unwrap();
    assert_eq!(shown, vec![sealed.person]);
    assert_eq!(clear["case"]["parties"][0]["who"]["name"], "张三丰");
    assert_eq!(clear["case"]["parties"][0]["side"], "applicant");

    let mut masked = doc.clone();
    assert!(
        vault
            .render("qinghe", &mut masked, Disclosure::Masked)
            .await
            .unwrap()
            .is_empty()
    );
    let who = &masked["case"]["parties"][0]["who"];
    assert_eq!(who["name"], "张**");
    assert_eq!(who["phone"], "138****5678");
    assert_eq!(who["masked"], true);

    let mut withheld = doc.clone();
    vault
        .render("qinghe", &mut withheld, Disclosure::Withheld)
        .await
        .unwrap();
    assert_eq!(
        withheld["case"]["parties"][0]["who"],
        json!({"withheld": true})
    );
    assert!(!withheld.to_string().contains(&sealed.person.to_string()));

    vault.erase("qinghe", sealed.person).await.unwrap();
    let mut erased = doc.clone();
    assert!(
        vault
            .render("qinghe", &mut erased, Disclosure::Clear)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(erased["case"]["parties"][0]["who"]["erased"], true);
    assert_eq!(erased["other"], "x");
}

#[tokio::test]
async fn views_are_recorded_and_read_back() {
    let vault = Vault::in_memory().await.unwrap();
    let person = PersonId::new();
    let view = View {
        tenant: "qinghe".to_owned(),
        person,
        case_id: Some(Uuid::now_v7()),
        viewer: "officer-1".to_owned(),
        role: "petition_officer".to_owned(),
        via: "case".to_owned(),
        viewed_at: Timestamp::from_second(1_760_000_000).unwrap(),
    };
    vault
        .record_views(std::slice::from_ref(&view))
        .await
        .unwrap();
    assert_eq!(vault.views("qinghe", person).await.unwrap(), vec![view]);
    assert!(vault.views("elsewhere", person).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_postgres_vault_keeps_and_erases_keys_the_same_way() {
    let db = docket_testkit::PgDatabase::fresh();
    let vault = Vault::connect(db.url()).await.unwrap();
    let sealed = vault
        .seal("qinghe", &details("王五", Some("11010519491231002X")))
        .await
        .unwrap();
    let again = Vault::connect(db.url()).await.unwrap();
    assert_eq!(
        again.unseal("qinghe", &sealed).await.unwrap().unwrap().name,
        "王五"
    );
    assert_eq!(
        again.find("qinghe", "11010519491231002X").await.unwrap(),
        Some(sealed.person)
    );
    assert!(vault.erase("qinghe", sealed.person).await.unwrap());
    assert_eq!(again.unseal("qinghe", &sealed).await.unwrap(), None);
}

/// A case's texts open for that case only, read `[erased]` once a person the case names is
/// erased, and the case's later texts go under a new key that still opens.
#[tokio::test]
async fn a_cases_texts_open_for_it_only_and_go_with_the_people_it_names() {
    let vault = Vault::in_memory().await.unwrap();
    let case = Uuid::now_v7();
    let other = Uuid::now_v7();
    let sealed = vault
        .seal_text("qinghe", case, "张三丰说楼上漏水")
        .await
        .unwrap();
    assert!(
        is_sealed_text(&sealed) && !sealed.contains("张"),
        "{sealed}"
    );
    assert_eq!(
        vault.unseal_text("qinghe", case, &sealed).await.unwrap(),
        Some("张三丰说楼上漏水".to_owned())
    );
    assert!(
        vault.unseal_text("qinghe", other, &sealed).await.is_err(),
        "not for another case"
    );
    assert_eq!(
        vault.unseal_text("elsewhere", case, &sealed).await.unwrap(),
        None,
        "not for another tenant"
    );

    let zhang = vault
        .seal("qinghe", &details("张三丰", Some("11010519491231002X")))
        .await
        .unwrap();
    vault
        .link_people("qinghe", case, &[zhang.person])
        .await
        .unwrap();
    let untouched = vault.seal_text("qinghe", other, "与此无关").await.unwrap();
    assert!(vault.erase("qinghe", zhang.person).await.unwrap());
    assert_eq!(
        vault.unseal_text("qinghe", case, &sealed).await.unwrap(),
        None
    );
    let mut shown = json!({"description": sealed.clone()});
    vault
        .render_texts("qinghe", case, &mut shown, Disclosure::Clear)
        .await
        .unwrap();
    assert_eq!(shown["description"], ERASED_TEXT);
    assert_eq!(
        vault
            .unseal_text("qinghe", other, &untouched)
            .await
            .unwrap(),
        Some("与此无关".to_owned()),
        "a case that does not name the person keeps its texts"
    );

    let later = vault.seal_text("qinghe", case, "后来的记录").await.unwrap();
    assert_eq!(
        vault.unseal_text("qinghe", case, &later).await.unwrap(),
        Some("后来的记录".to_owned())
    );
    assert_eq!(
        vault.unseal_text("qinghe", case, &sealed).await.unwrap(),
        None,
        "the erased generation stays erased"
    );
    let mut masked = json!({"note": later});
    vault
        .render_texts("qinghe", case, &mut masked, Disclosure::Masked)
        .await
        .unwrap();
    assert_eq!(masked["note"], "后…");
}

/// Case keys are kept in memory for a moment; an erasure by another process on the same key
/// store (`docket erase-person` while the server runs) reaches this one's reads and seals once
/// that moment has passed.
#[tokio::test]
async fn an_erasure_by_another_process_reaches_the_keys_this_one_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vault::open(dir.path().join("keys.sqlite")).await.unwrap();
    let case = Uuid::now_v7();
    let sealed = server
        .seal_text("qinghe", case, "李四说楼道堆物")
        .await
        .unwrap();
    assert_eq!(
        server.unseal_text("qinghe", case, &sealed).await.unwrap(),
        Some("李四说楼道堆物".to_owned())
    );
    let li = server
        .seal("qinghe", &details("李四", Some("110105194912310038")))
        .await
        .unwrap();
    server
        .link_people("qinghe", case, &[li.person])
        .await
        .unwrap();

    let command_line = Vault::open(dir.path().join("keys.sqlite")).await.unwrap();
    assert!(command_line.erase("qinghe", li.person).await.unwrap());
    tokio::time::sleep(CASE_KEY_FRESHNESS).await;
    assert_eq!(
        server.unseal_text("qinghe", case, &sealed).await.unwrap(),
        None,
        "the destroyed key is not used after the moment has passed"
    );
    let later = server
        .seal_text("qinghe", case, "后来的记录")
        .await
        .unwrap();
    assert_ne!(
        later.split('.').nth(2),
        sealed.split('.').nth(2),
        "a later text goes under a new generation: {later}"
    );
    assert_eq!(
        command_line
            .unseal_text("qinghe", case, &later)
            .await
            .unwrap(),
        Some("后来的记录".to_owned())
    );
}

/// An app's API key is shown once, found again by the key, kept only as its hash, and refused
/// once revoked.
#[tokio::test]
async fn api_keys_are_kept_hashed_found_by_the_key_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(dir.path().join("keys.sqlite")).await.unwrap();
    let (issued, key) = vault
        .create_api_key("qinghe", "清河随手拍", "qinghe")
        .await
        .unwrap();
    assert!(key.starts_with(API_KEY_PREFIX), "{key}");
    assert_eq!(vault.api_key(&key).await.unwrap(), Some(issued.clone()));
    assert_eq!(vault.api_key("dk311_not-a-key").await.unwrap(), None);
    assert_eq!(
        vault.api_keys("qinghe").await.unwrap(),
        vec![issued.clone()]
    );
    assert!(vault.api_keys("elsewhere").await.unwrap().is_empty());

    assert!(!vault.revoke_api_key("elsewhere", issued.id).await.unwrap());
    assert!(vault.revoke_api_key("qinghe", issued.id).await.unwrap());
    assert!(
        !vault.revoke_api_key("qinghe", issued.id).await.unwrap(),
        "once"
    );
    let revoked = vault.api_key(&key).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());

    drop(vault);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let secret = key.strip_prefix(API_KEY_PREFIX).unwrap().as_bytes();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "the key is in clear in the key store"
        );
    }
}

/// A backup's key store: every table is copied (a table added to the schema and not to the copy
/// would lose data in every backup), and the copy opens what the original opened, keeps what was
/// erased erased, and knows the same API keys; from the embedded file to Postgres and back.
#[tokio::test]
async fn a_copied_vault_opens_what_the_original_opened_and_keeps_erasures() {
    let tables: Vec<&str> = SCHEMA
        .iter()
        .filter_map(|s| s.strip_prefix("CREATE TABLE IF NOT EXISTS "))
        .map(|s| s.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        tables,
        TABLES.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        "every table of the vault is copied"
    );

    let original = Vault::in_memory().await.unwrap();
    let kept = original
        .seal("qinghe", &details("张三丰", Some("11010519491231002X")))
        .await
        .unwrap();
    let erased = original
        .seal("qinghe", &details("李四", None))
        .await
        .unwrap();
    let case = Uuid::now_v7();
    let text = original
        .seal_text("qinghe", case, "楼上漏水")
        .await
        .unwrap();
    let (_, app_key) = original
        .create_api_key("qinghe", "随手拍", "qinghe")
        .await
        .unwrap();
    original
        .record_views(&[View {
            tenant: "qinghe".into(),
            person: kept.person,
            case_id: Some(case),
            viewer: "mediator-1".into(),
            role: "mediator".into(),
            via: "case".into(),
            viewed_at: Timestamp::from_second(1_700_000_000).unwrap(),
        }])
        .await
        .unwrap();
    assert!(original.erase("qinghe", erased.person).await.unwrap());
    let fingerprint = original.fingerprint("qinghe", b"request").await.unwrap();

    let db = docket_testkit::PgDatabase::fresh();
    let postgres = Vault::connect(db.url()).await.unwrap();
    assert!(postgres.is_empty().await.unwrap());
    assert!(original.copy_to(&postgres).await.unwrap() >= 6);
    assert!(!postgres.is_empty().await.unwrap());
    let back = Vault::in_memory().await.unwrap();
    postgres.copy_to(&back).await.unwrap();

    for copy in [&postgres, &back] {
        assert_eq!(
            copy.unseal("qinghe", &kept).await.unwrap().unwrap().name,
            "张三丰"
        );
        assert_eq!(copy.unseal("qinghe", &erased).await.unwrap(), None);
        assert_eq!(
            copy.find("qinghe", "11010519491231002X").await.unwrap(),
            Some(kept.person)
        );
        assert_eq!(
            copy.unseal_text("qinghe", case, &text).await.unwrap(),
            Some("楼上漏水".to_owned())
        );
        assert_eq!(
            copy.api_key(&app_key).await.unwrap().unwrap().name,
            "随手拍"
        );
        assert_eq!(copy.views("qinghe", kept.person).await.unwrap().len(), 1);
        // The tenant's secret came along: the same request has the same fingerprint.
        assert_eq!(
            copy.fingerprint("qinghe", b"request").await.unwrap(),
            fingerprint
        );
    }
}
