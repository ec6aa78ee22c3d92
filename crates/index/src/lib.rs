//! The full-text index of events: the only crate that links tantivy.
//!
//! Each event is one document: the whole event as stored JSON (`_source`, what search
//! returns), plus indexed copies of what queries filter and sort on. Commits carry the
//! WAL sequence number they include, so recovery knows what to replay.

mod aggregate;
mod query;
mod schema;
mod tokenizer;

use std::ops::{Bound, ControlFlow};
use std::path::Path;

use chrono::{DateTime, Utc};
use sluice_core::{Event, Level};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

use schema::Fields;

pub use aggregate::{Aggregates, Bucket, Facet, FacetValue, Histogram};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("no index at {0}: nothing has been ingested into this data dir yet")]
    Missing(std::path::PathBuf),
    #[error("bad query: {0}")]
    BadQuery(String),
    #[error("index I/O on {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

/// What to look for. `query` uses tantivy's Lucene-like syntax; `*` or empty matches all.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub modules: Vec<String>,
    pub levels: Vec<Level>,
    pub limit: usize,
    /// Also compute the histogram and facets of the matches.
    pub aggregate: bool,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            query: "*".into(),
            from: None,
            to: None,
            modules: vec![],
            levels: vec![],
            limit: 100,
            aggregate: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SearchResponse {
    /// Exact number of matching events.
    pub total: usize,
    /// The newest `limit` of them, newest first.
    pub hits: Vec<Event>,
    /// With `aggregate`.
    pub aggregates: Option<Aggregates>,
}

/// An open index, readable from any thread.
#[derive(Clone)]
pub struct EventIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl EventIndex {
    /// Opens the index in `dir`, creating it if needed.
    pub fn open_or_create(dir: &Path) -> Result<EventIndex, IndexError> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io { path: dir.to_owned(), source })?;
        let mmap = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| IndexError::Tantivy(tantivy::TantivyError::from(e)))?;
        let index = Index::open_or_create(mmap, schema::build())?;
        EventIndex::from_index(index)
    }

    /// Opens an existing index for searching (the CLI, while `serve` may be writing).
    pub fn open_existing(dir: &Path) -> Result<EventIndex, IndexError> {
        if !dir.join("meta.json").exists() {
            return Err(IndexError::Missing(dir.to_owned()));
        }
        EventIndex::from_index(Index::open_in_dir(dir)?)
    }

    fn from_index(index: Index) -> Result<EventIndex, IndexError> {
        schema::register_tokenizers(&index);
        let fields = Fields::resolve(&index.schema())?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(EventIndex { index, reader, fields })
    }

    /// The WAL sequence number of the last commit (0 for a new index).
    pub fn committed_seq(&self) -> Result<u64, IndexError> {
        let metas = self.index.load_metas()?;
        Ok(metas
            .payload
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
            .and_then(|v| v["wal_seq"].as_u64())
            .unwrap_or(0))
    }

    /// The only writer of this index (tantivy allows one per directory), with one
    /// indexing thread per core up to two (each builds its own segments in parallel).
    pub fn writer(&self, heap_bytes: usize) -> Result<EventWriter, IndexError> {
        // tantivy wants at least 15 MB of heap per thread.
        let affordable = (heap_bytes / 15_000_000).max(1);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2).min(affordable));
        let writer = self.index.writer_with_num_threads(threads, heap_bytes)?;
        Ok(EventWriter { writer, fields: self.fields.clone() })
    }

    /// Makes the latest commit visible to searches.
    pub fn reload(&self) -> Result<(), IndexError> {
        Ok(self.reader.reload()?)
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, IndexError> {
        let query = self.build_query(request)?;
        let searcher = self.reader.searcher();
        let limit = request.limit;
        let top_docs =
            TopDocs::with_limit(limit.max(1)).order_by_fast_field::<tantivy::DateTime>("timestamp", Order::Desc);
        let mut aggregates = None;
        let (total, mut top) = if request.aggregate {
            // Buckets sized for the window asked for (or everything indexed up to now).
            let from = match request.from {
                Some(from) => from,
                None => self.oldest()?.unwrap_or_else(Utc::now),
            };
            let to = request.to.unwrap_or_else(Utc::now).max(from);
            let interval = aggregate::interval_for(from, to);
            let collector = aggregate::collector(from, to, interval, self.index.tokenizers().clone())?;
            let (total, top, results) = searcher.search(&query, &(Count, top_docs, collector))?;
            let results = serde_json::to_value(&results).unwrap_or_default();
            aggregates = Some(aggregate::read(&results, interval));
            (total, top)
        } else {
            searcher.search(&query, &(Count, top_docs))?
        };
        if limit == 0 {
            top.clear();
        }
        let mut hits = Vec::with_capacity(top.len());
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let Some(source) = doc.get_first(self.fields.source_json).and_then(|v| v.as_str().map(str::to_owned))
            else {
                continue;
            };
            match serde_json::from_str::<Event>(&source) {
                Ok(event) => hits.push(event),
                Err(error) => tracing::warn!(%error, "skipping unreadable stored event"),
            }
        }
        Ok(SearchResponse { total, hits, aggregates })
    }

    /// Calls `visit` with every matching event, in index order (not sorted), without
    /// holding them all in memory, until it breaks. `limit` is ignored. Returns how many
    /// were visited.
    pub fn scan(
        &self,
        request: &SearchRequest,
        mut visit: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<u64, IndexError> {
        let query = self.build_query(request)?;
        let searcher = self.reader.searcher();
        let weight = query.weight(tantivy::query::EnableScoring::disabled_from_searcher(&searcher))?;
        let mut visited = 0;
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(64).map_err(|e| IndexError::Tantivy(e.into()))?;
            let alive = segment.alive_bitset();
            let mut docs = Vec::new();
            weight.for_each_no_score(segment, &mut |batch| docs.extend_from_slice(batch))?;
            for doc_id in docs {
                if alive.is_some_and(|a| !a.is_alive(doc_id)) {
                    continue;
                }
                let doc: TantivyDocument = store.get(doc_id)?;
                let Some(source) = doc.get_first(self.fields.source_json).and_then(|v| v.as_str()) else { continue };
                match serde_json::from_str::<Event>(source) {
                    Ok(event) => {
                        visited += 1;
                        if visit(event).is_break() {
                            return Ok(visited);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "skipping unreadable stored event"),
                }
            }
        }
        Ok(visited)
    }

    /// The time of the oldest event in the index, if any.
    pub fn oldest(&self) -> Result<Option<DateTime<Utc>>, IndexError> {
        let searcher = self.reader.searcher();
        let oldest = TopDocs::with_limit(1).order_by_fast_field::<tantivy::DateTime>("timestamp", Order::Asc);
        let top = searcher.search(&AllQuery, &oldest)?;
        Ok(top.first().and_then(|(t, _)| *t).and_then(|t| DateTime::from_timestamp_micros(t.into_timestamp_micros())))
    }

    /// Checks that `query` parses, without running it.
    pub fn check_query(&self, query: &str) -> Result<(), IndexError> {
        self.build_query(&SearchRequest { query: query.into(), ..SearchRequest::default() }).map(drop)
    }

    fn build_query(&self, request: &SearchRequest) -> Result<Box<dyn Query>, IndexError> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let text = request.query.trim();
        if !text.is_empty() && text != "*" {
            clauses.push((Occur::Must, query::parse(&self.index, f, text)?));
        }
        if request.from.is_some() || request.to.is_some() {
            let bound = |t: Option<DateTime<Utc>>, inclusive: bool| match t {
                None => Bound::Unbounded,
                Some(t) => {
                    let term = Term::from_field_date(f.timestamp, to_tantivy(t));
                    if inclusive { Bound::Included(term) } else { Bound::Excluded(term) }
                }
            };
            clauses.push((Occur::Must, Box::new(RangeQuery::new(bound(request.from, true), bound(request.to, false)))));
        }
        for (field, values) in [
            (f.module, request.modules.clone()),
            (f.level, request.levels.iter().map(|l| l.as_str().to_owned()).collect()),
        ] {
            if values.is_empty() {
                continue;
            }
            let any: Vec<(Occur, Box<dyn Query>)> = values
                .iter()
                .map(|v| {
                    let term = Term::from_field_text(field, v);
                    (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>)
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        Ok(if clauses.is_empty() { Box::new(AllQuery) } else { Box::new(BooleanQuery::new(clauses)) })
    }
}

/// The events of `events` that match `query`, judged exactly as a search of the index
/// would (same query parser and analyzers), through a throwaway in-memory index. For
/// events that are no longer in the index (read back from the archive). Returned in time order.
pub fn filter_events(query: &str, events: Vec<Event>) -> Result<Vec<Event>, IndexError> {
    let query = query.trim();
    if query.is_empty() || query == "*" || events.is_empty() {
        return Ok(events);
    }
    let memory = EventIndex::from_index(Index::create_in_ram(schema::build()))?;
    let mut writer = memory.writer(32 << 20)?;
    for event in &events {
        writer.add(event)?;
    }
    writer.commit(0)?;
    memory.reload()?;
    let mut matched = Vec::new();
    memory.scan(&SearchRequest { query: query.into(), ..SearchRequest::default() }, |event| {
        matched.push(event);
        ControlFlow::Continue(())
    })?;
    // `scan` visits in index order; archive batches come in time order.
    matched.sort_by_key(|e| e.timestamp);
    Ok(matched)
}

/// Adds events and commits them with the WAL position they reach.
pub struct EventWriter {
    writer: IndexWriter<TantivyDocument>,
    fields: Fields,
}

impl EventWriter {
    pub fn add(&mut self, event: &Event) -> Result<(), IndexError> {
        self.writer.add_document(self.fields.document(event))?;
        Ok(())
    }

    /// Durably commits everything added, recording that the index holds the WAL up to `seq`.
    pub fn commit(&mut self, seq: u64) -> Result<(), IndexError> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&serde_json::json!({ "wal_seq": seq }).to_string());
        prepared.commit()?;
        Ok(())
    }

    /// Waits for background merges; call before exiting.
    pub fn finish(self) -> Result<(), IndexError> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

fn to_tantivy(t: DateTime<Utc>) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_micros(t.timestamp_micros())
}

#[cfg(test)]
mod tests;
