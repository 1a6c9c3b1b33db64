//! The office's console: the pages the `docket` binary serves at `/`, for the officials who work
//! cases in a browser rather than with `curl`.
//!
//! The console is written in `web/src` (Preact with htm, Apache ECharts) and bundled by
//! `web/build.mjs` into `assets/`, which are checked in: building the binary needs no Node.js,
//! and nothing loads from the internet when a page opens. `make console` rebuilds the assets
//! from their pinned packages; `make console-check`, part of `make test`, fails when the
//! checked-in assets are not what their sources build to.

use std::sync::LazyLock;

/// One file of the console.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/console/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// Every file of the console, as built into `assets/`.
pub static ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../assets/index.html"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/console.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/console.css"),
    },
];

/// The console file of that name, if there is one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

impl Asset {
    /// A strong entity tag of the file's content, so a browser revalidates what it has cached
    /// and fetches it again only after an upgrade.
    pub fn etag(&self) -> &'static str {
        static TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
            ASSETS
                .iter()
                .map(|a| {
                    use sha2::Digest;
                    let digest = sha2::Sha256::digest(a.bytes);
                    format!("\"{}\"", &hex::encode(digest)[..32])
                })
                .collect()
        });
        let index = ASSETS
            .iter()
            .position(|a| a.name == self.name)
            .expect("an asset of the console");
        &TAGS[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_the_bundle_and_its_styles_from_this_server_only() {
        let page = std::str::from_utf8(asset("index.html").unwrap().bytes).unwrap();
        assert!(page.contains(r#"src="/console/console.js""#), "{page}");
        assert!(page.contains(r#"href="/console/console.css""#), "{page}");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{page}"
        );
        assert!(page.contains(r#"lang="zh-CN""#));
    }

    #[test]
    fn each_file_has_its_own_tag_and_the_same_one_each_time() {
        let tags: Vec<&str> = ASSETS.iter().map(Asset::etag).collect();
        let mut distinct = tags.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), ASSETS.len());
        assert_eq!(asset("console.js").unwrap().etag(), tags[1]);
        assert!(asset("nothing.js").is_none());
    }
}
