//! Fingerprints and query ids against pt-query-digest 3.2.1 itself: upstream's test vectors,
//! and the fingerprint of every event it parsed from the corpus slow logs.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sluice_detect::fingerprint::{fingerprint, query_id};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must have ../shared/corpus beside the checkout");
    eprintln!("SKIPPED: no ../shared/corpus beside the checkout");
    None
}

fn json_lines(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap();
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).unwrap();
    } else {
        text = String::from_utf8(bytes).unwrap();
    }
    text.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn upstream_vectors() {
    let Some(corpus) = corpus() else { return };
    let cases = json_lines(&corpus.join("peer-outputs/pt-fingerprint-3.2.1/QueryRewriter_t_cases.jsonl"));
    let mut checked = 0;
    for case in
        cases.iter().filter(|c| c["func"] == "fingerprint" && c["opts"].as_object().is_some_and(|o| o.is_empty()))
    {
        let input = case["input"].as_str().unwrap();
        let got = fingerprint(input);
        assert_eq!(got, case["got_3_2_1"].as_str().unwrap(), "{}: {input:?}", case["name"]);
        assert_eq!(query_id(&got), case["query_id_3_2_1"].as_str().unwrap(), "{}", case["name"]);
        checked += 1;
    }
    assert!(checked >= 40, "{checked}");
}

#[test]
fn every_corpus_event() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("peer-outputs/pt-query-digest-3.2.1/events");
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        for event in json_lines(&path) {
            let arg = event["arg"].as_str().unwrap_or("");
            let got = fingerprint(arg);
            checked += 1;
            if got != event["fingerprint"].as_str().unwrap_or("")
                || query_id(&got) != event["query_id"].as_str().unwrap_or("")
            {
                mismatches.push(format!(
                    "{}: {arg:?}\n  ours {got:?}\n  pt   {:?}",
                    path.display(),
                    event["fingerprint"]
                ));
            }
        }
    }
    assert!(checked > 2000, "{checked}");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} differ:\n{}",
        mismatches.len(),
        mismatches.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// pgBadger 12's normalised form of every statement in its reports on the corpus.
#[test]
fn pgbadger_normalisation() {
    let Some(corpus) = corpus() else { return };
    let pairs = json_lines(&corpus.join("peer-outputs/pgbadger-12.0/normalize_query_pairs.jsonl"));
    let mut mismatches = Vec::new();
    for pair in &pairs {
        let original = pair["original"].as_str().unwrap();
        let got = sluice_detect::pg_normalize::normalize(original);
        if got != pair["normalized"].as_str().unwrap() {
            mismatches.push(format!("{original:?}\n  ours     {got:?}\n  pgBadger {:?}", pair["normalized"]));
        }
    }
    assert!(pairs.len() >= 40, "{}", pairs.len());
    assert!(mismatches.is_empty(), "{} of {} differ:\n{}", mismatches.len(), pairs.len(), mismatches.join("\n"));
}
