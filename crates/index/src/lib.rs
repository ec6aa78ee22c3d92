//! The full-text index of events: the only crate that links tantivy.
//!
//! Events are partitioned by UTC day: `index/YYYY-MM-DD/` is a tantivy index of its own
//! ([`partition`]), so a search opens only the days its window touches, merges stay within
//! a day, and retention deletes whole days. Each event is one document: the whole event as
//! stored JSON (`_source`, what search returns), plus indexed copies of what queries filter
//! and sort on. Results are ordered newest first by (timestamp, ordinal), a total order, so
//! `search_after` pages never skip or repeat an event. Commits carry the WAL sequence number
//! they include (per day, and for the whole index in `commit.json`), so recovery knows
//! what to replay.

mod aggregate;
mod migrate;
mod partition;
mod query;
mod schema;
mod tokenizer;
mod writer;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDate, Utc};
use sluice_core::{Event, Level};
use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

use partition::Partition;
use schema::Fields;

pub use aggregate::{Aggregates, Bucket, Facet, FacetValue, Histogram};
pub use writer::EventWriter;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("no index at {0}: nothing has been ingested into this data dir yet")]
    Missing(std::path::PathBuf),
    #[error("bad query: {0}")]
    BadQuery(String),
    #[error(
        "the index in {0} was written by an older Sluice: start `sluice serve` or run `sluice import` once to convert it"
    )]
    OldLayout(std::path::PathBuf),
    #[error("index I/O on {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

/// Where an event stands in the newest-first order: its timestamp (microseconds) and
/// ordinal. Written `micros:ordinal`, it is what `search_after` takes to continue a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub micros: i64,
    pub ord: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.micros, self.ord)
    }
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Cursor, String> {
        let bad = || format!("`{s}` is not a cursor (the `sort` value of a hit: MICROS:ORDINAL)");
        let (micros, ord) = s.split_once(':').ok_or_else(bad)?;
        Ok(Cursor { micros: micros.trim().parse().map_err(|_| bad())?, ord: ord.trim().parse().map_err(|_| bad())? })
    }
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
    /// Only hits older than this one (the previous page's last `sort`). `total` and the
    /// aggregates still count every match, as Elasticsearch's `search_after` does.
    pub search_after: Option<Cursor>,
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
            search_after: None,
        }
    }
}

/// One matching event.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub event: Event,
    /// Its place in the order, for `search_after` and context.
    pub sort: Cursor,
    /// Byte ranges of `event.message` that matched the query's words, in order.
    pub highlights: Vec<[usize; 2]>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchResponse {
    /// Exact number of matching events.
    pub total: usize,
    /// The newest `limit` of them (after `search_after`), newest first.
    pub hits: Vec<Hit>,
    /// With `aggregate`.
    pub aggregates: Option<Aggregates>,
}

/// The events around one event from the same source (and host), oldest first.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub before: Vec<Hit>,
    pub after: Vec<Hit>,
}

/// An open index, readable from any thread: the day partitions under one directory.
#[derive(Clone)]
pub struct EventIndex {
    root: PathBuf,
    partitions: Arc<RwLock<BTreeMap<NaiveDate, Partition>>>,
    /// An empty in-memory index with the same schema and analyzers: queries are parsed
    /// once against it and run on every partition.
    parser: Partition,
}

type SortKey = (Option<tantivy::DateTime>, Option<u64>);

fn by_time(order: Order) -> impl tantivy::collector::sort_key::SortKeyComputer<SortKey = SortKey> + Send + 'static {
    (
        (SortByStaticFastValue::<tantivy::DateTime>::for_field("timestamp"), order),
        (SortByStaticFastValue::<u64>::for_field("ord"), order),
    )
}

fn cursor_of(key: &SortKey) -> Cursor {
    Cursor { micros: key.0.map_or(0, |t| t.into_timestamp_micros()), ord: key.1.unwrap_or(0) }
}

impl EventIndex {
    /// Opens the index under `root` for writing, creating it if needed (and converting an
    /// index written by an older Sluice: before day partitions, or before SSTable term
    /// dictionaries).
    pub fn open_or_create(root: &Path) -> Result<EventIndex, IndexError> {
        migrate::single_to_daily(root)?;
        migrate::old_days_to_current(root)?;
        std::fs::create_dir_all(root).map_err(|source| IndexError::Io { path: root.to_owned(), source })?;
        EventIndex::open_dir(root, true)
    }

    /// Opens an existing index for searching (the CLI, while `serve` may be writing).
    pub fn open_existing(root: &Path) -> Result<EventIndex, IndexError> {
        if !root.is_dir() {
            return Err(IndexError::Missing(root.to_owned()));
        }
        if migrate::is_single(root) || migrate::has_old_days(root) {
            return Err(IndexError::OldLayout(root.to_owned()));
        }
        EventIndex::open_dir(root, false)
    }

    fn open_dir(root: &Path, writable: bool) -> Result<EventIndex, IndexError> {
        let mut partitions = BTreeMap::new();
        let entries = std::fs::read_dir(root).map_err(|source| IndexError::Io { path: root.to_owned(), source })?;
        for entry in entries.flatten() {
            let Some(day) = entry.file_name().to_str().and_then(partition::parse_dir_name) else { continue };
            if !entry.path().join("meta.json").exists() && !writable {
                continue;
            }
            let partition = if writable {
                Partition::open_or_create(root, day)?
            } else {
                Partition::open_existing(&entry.path(), day)?
            };
            partitions.insert(day, partition);
        }
        Ok(EventIndex {
            root: root.to_owned(),
            partitions: Arc::new(RwLock::new(partitions)),
            parser: Partition::in_ram(NaiveDate::MIN)?,
        })
    }

    /// The WAL sequence number every partition has committed through (0 for a new index).
    pub fn committed_seq(&self) -> Result<u64, IndexError> {
        writer::read_commit_file(&self.root)
    }

    /// The only writer of this index, one tantivy writer per day being written, each with
    /// one indexing thread per core up to two and `heap_bytes` of indexing memory.
    pub fn writer(&self, heap_bytes: usize) -> Result<EventWriter, IndexError> {
        EventWriter::new(self.clone(), heap_bytes)
    }

    /// Makes the latest commits visible to searches.
    pub fn reload(&self) -> Result<(), IndexError> {
        for partition in self.partitions.read().unwrap_or_else(|p| p.into_inner()).values() {
            partition.reader.reload()?;
        }
        Ok(())
    }

    /// The days held, oldest first, with their number of events.
    pub fn days(&self) -> Vec<(NaiveDate, u64)> {
        self.all().iter().map(|p| (p.day, p.doc_count())).collect()
    }

    fn all(&self) -> Vec<Partition> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// The partitions a window touches, newest first.
    fn newest_first(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Vec<Partition> {
        let mut parts: Vec<Partition> = self.all().into_iter().filter(|p| p.overlaps(from, to)).collect();
        parts.reverse();
        parts
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, IndexError> {
        let query = self.build_query(request)?;
        let partitions = self.newest_first(request.from, request.to);
        let aggregates = if request.aggregate {
            // Buckets sized for the window asked for (or everything indexed up to now).
            let from = match request.from {
                Some(from) => from,
                None => self.oldest()?.unwrap_or_else(Utc::now),
            };
            let to = request.to.unwrap_or_else(Utc::now).max(from);
            Some(aggregate::Request::new(from, to, self.parser.index.tokenizers().clone())?)
        } else {
            None
        };
        let limit = request.limit;
        let top = || TopDocs::with_limit(limit.max(1)).order_by(by_time(Order::Desc));
        let mut total = 0;
        let mut parts = Vec::new();
        let mut found: Vec<(SortKey, usize, DocAddress)> = Vec::new();
        let mut searchers = Vec::with_capacity(partitions.len());
        for (i, partition) in partitions.iter().enumerate() {
            let searcher = partition.reader.searcher();
            // Days are disjoint and visited newest first: once newer days filled the page,
            // older ones only add to the counts.
            let wants_hits = limit > 0 && found.len() < limit;
            let collector = aggregates.as_ref().map(aggregate::Request::collector);
            let (count, hits, fruit) = match request.search_after {
                None => {
                    let (count, hits, fruit) = searcher.search(&*query, &(Count, wants_hits.then(top), collector))?;
                    (count, hits.unwrap_or_default(), fruit)
                }
                Some(after) => {
                    let (count, fruit) = searcher.search(&*query, &(Count, collector))?;
                    let hits = if wants_hits {
                        beyond(&searcher, &self.parser.fields, &*query, after, true, limit - found.len())?
                    } else {
                        Vec::new()
                    };
                    (count, hits, fruit)
                }
            };
            total += count;
            parts.extend(fruit);
            found.extend(hits.into_iter().map(|(key, address)| (key, i, address)));
            searchers.push(searcher);
        }
        found.sort_by_key(|hit| std::cmp::Reverse(hit.0));
        found.truncate(limit);
        let highlighter = Highlighter::new(&self.parser, &*query);
        let mut hits = Vec::with_capacity(found.len());
        for (key, i, address) in found {
            if let Some(event) = read_event(&searchers[i], &partitions[i].fields, address)? {
                let highlights = highlighter.ranges(&event.message);
                hits.push(Hit { event, sort: cursor_of(&key), highlights });
            }
        }
        let aggregates = aggregates.map(|request| request.finish(parts)).transpose()?;
        Ok(SearchResponse { total, hits, aggregates })
    }

    /// Up to `before` events just older and `after` just newer than the event at `at`,
    /// from the same `source` (and `host`, when given): what was logged around a hit.
    pub fn context(
        &self,
        source: &str,
        host: Option<&str>,
        at: Cursor,
        before: usize,
        after: usize,
    ) -> Result<Context, IndexError> {
        let f = &self.parser.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, term_query(f.source, source))];
        if let Some(host) = host.filter(|h| !h.is_empty()) {
            clauses.push((Occur::Must, term_query(f.host, host)));
        }
        let same_stream: Box<dyn Query> = Box::new(BooleanQuery::new(clauses));
        let at_time = DateTime::from_timestamp_micros(at.micros).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut older = self.neighbours(&*same_stream, at, true, before, |p| p.day <= partition::day_of(at_time))?;
        older.reverse();
        let newer = self.neighbours(&*same_stream, at, false, after, |p| p.day >= partition::day_of(at_time))?;
        Ok(Context { before: older, after: newer })
    }

    /// The `limit` events nearest to `at` on one side, nearest first.
    fn neighbours(
        &self,
        query: &dyn Query,
        at: Cursor,
        older: bool,
        limit: usize,
        on_side: impl Fn(&Partition) -> bool,
    ) -> Result<Vec<Hit>, IndexError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut partitions: Vec<Partition> = self.all().into_iter().filter(|p| on_side(p)).collect();
        if older {
            partitions.reverse();
        }
        let mut hits = Vec::new();
        for partition in partitions {
            let searcher = partition.reader.searcher();
            for (key, address) in beyond(&searcher, &self.parser.fields, query, at, older, limit - hits.len())? {
                if let Some(event) = read_event(&searcher, &partition.fields, address)? {
                    hits.push(Hit { event, sort: cursor_of(&key), highlights: Vec::new() });
                }
            }
            if hits.len() == limit {
                break;
            }
        }
        Ok(hits)
    }

    /// Calls `visit` with every matching event, day by day (not sorted within a day),
    /// without holding them all in memory, until it breaks. `limit` is ignored. Returns
    /// how many were visited.
    pub fn scan(
        &self,
        request: &SearchRequest,
        mut visit: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<u64, IndexError> {
        let query = self.build_query(request)?;
        let mut visited = 0;
        let mut partitions = self.newest_first(request.from, request.to);
        partitions.reverse();
        for partition in &partitions {
            if scan_partition(partition, &*query, &mut visited, &mut visit)?.is_break() {
                break;
            }
        }
        Ok(visited)
    }

    /// The time of the oldest event in the index, if any.
    pub fn oldest(&self) -> Result<Option<DateTime<Utc>>, IndexError> {
        let oldest = TopDocs::with_limit(1).order_by(by_time(Order::Asc));
        for partition in self.all() {
            let top = partition.reader.searcher().search(&AllQuery, &oldest)?;
            if let Some((key, _)) = top.first() {
                return Ok(DateTime::from_timestamp_micros(cursor_of(key).micros));
            }
        }
        Ok(None)
    }

    /// Checks that `query` parses, without running it.
    pub fn check_query(&self, query: &str) -> Result<(), IndexError> {
        self.build_query(&SearchRequest { query: query.into(), ..SearchRequest::default() }).map(drop)
    }

    fn build_query(&self, request: &SearchRequest) -> Result<Box<dyn Query>, IndexError> {
        build_query(&self.parser, request)
    }
}

/// The `limit` matches of `query` nearest to `cursor` on one side of it (strictly older or
/// newer), nearest first. The time bound is one inclusive range, which intersects cheaply
/// with the query (an OR of ranges would scan the whole timestamp column); the events
/// of the cursor's own microsecond on the wrong side of its ordinal are dropped after.
fn beyond(
    searcher: &Searcher,
    fields: &Fields,
    query: &dyn Query,
    cursor: Cursor,
    older: bool,
    limit: usize,
) -> Result<Vec<(SortKey, DocAddress)>, IndexError> {
    let at = Term::from_field_date(fields.timestamp, tantivy::DateTime::from_timestamp_micros(cursor.micros));
    let range = if older {
        RangeQuery::new(Bound::Unbounded, Bound::Included(at))
    } else {
        RangeQuery::new(Bound::Included(at), Bound::Unbounded)
    };
    let bounded = BooleanQuery::new(vec![(Occur::Must, query.box_clone()), (Occur::Must, Box::new(range))]);
    let order = if older { Order::Desc } else { Order::Asc };
    // Room for the cursor's own microsecond; grown when more events share it.
    let mut slack = 16;
    loop {
        let top = searcher.search(&bounded, &TopDocs::with_limit(limit + slack).order_by(by_time(order)))?;
        let fetched = top.len();
        let past: Vec<(SortKey, DocAddress)> = top
            .into_iter()
            .filter(|(key, _)| if older { cursor_of(key) < cursor } else { cursor_of(key) > cursor })
            .take(limit)
            .collect();
        if past.len() == limit || fetched < limit + slack {
            return Ok(past);
        }
        slack *= 8;
    }
}

fn term_query(field: tantivy::schema::Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

fn build_query(parser: &Partition, request: &SearchRequest) -> Result<Box<dyn Query>, IndexError> {
    let f = &parser.fields;
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let text = request.query.trim();
    if !text.is_empty() && text != "*" {
        clauses.push((Occur::Must, query::parse(&parser.index, f, text)?));
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
    for (field, values) in
        [(f.module, request.modules.clone()), (f.level, request.levels.iter().map(|l| l.as_str().to_owned()).collect())]
    {
        if values.is_empty() {
            continue;
        }
        let any: Vec<(Occur, Box<dyn Query>)> = values.iter().map(|v| (Occur::Should, term_query(field, v))).collect();
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    Ok(if clauses.is_empty() { Box::new(AllQuery) } else { Box::new(BooleanQuery::new(clauses)) })
}

fn read_event(searcher: &Searcher, fields: &Fields, address: DocAddress) -> Result<Option<Event>, IndexError> {
    let doc: TantivyDocument = searcher.doc(address)?;
    Ok(match partition::stored_event(fields, &doc) {
        Some(Ok(event)) => Some(event),
        Some(Err(error)) => {
            tracing::warn!(%error, "skipping unreadable stored event");
            None
        }
        None => None,
    })
}

fn scan_partition(
    partition: &Partition,
    query: &dyn Query,
    visited: &mut u64,
    visit: &mut impl FnMut(Event) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, IndexError> {
    let searcher = partition.reader.searcher();
    let weight = query.weight(tantivy::query::EnableScoring::disabled_from_searcher(&searcher))?;
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
            match partition::stored_event(&partition.fields, &doc) {
                Some(Ok(event)) => {
                    *visited += 1;
                    if visit(event).is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Some(Err(error)) => tracing::warn!(%error, "skipping unreadable stored event"),
                None => {}
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Marks where a query's words occur in a message: the message is analysed as the index
/// analysed it, and every token that is one of the query's `message` terms is a range.
struct Highlighter {
    terms: HashSet<String>,
    analyzer: Option<tantivy::tokenizer::TextAnalyzer>,
}

impl Highlighter {
    fn new(parser: &Partition, query: &dyn Query) -> Highlighter {
        let mut terms = HashSet::new();
        query.query_terms(&mut |term, _| {
            if term.field() == parser.fields.message
                && let Some(text) = term.value().as_str()
            {
                terms.insert(text.to_owned());
            }
        });
        let analyzer = parser.index.tokenizer_for_field(parser.fields.message).ok();
        Highlighter { terms, analyzer }
    }

    fn ranges(&self, message: &str) -> Vec<[usize; 2]> {
        let Some(analyzer) = &self.analyzer else { return Vec::new() };
        if self.terms.is_empty() {
            return Vec::new();
        }
        let mut analyzer = analyzer.clone();
        let mut stream = analyzer.token_stream(message);
        let mut ranges: Vec<[usize; 2]> = Vec::new();
        while let Some(token) = stream.next() {
            if !self.terms.contains(&token.text) {
                continue;
            }
            // CJK bigrams overlap: `支付` and `付超` become one range.
            match ranges.last_mut() {
                Some(last) if token.offset_from <= last[1] => last[1] = last[1].max(token.offset_to),
                _ => ranges.push([token.offset_from, token.offset_to]),
            }
        }
        ranges
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
    let memory = Partition::in_ram(NaiveDate::MIN)?;
    let mut writer = memory.index.writer_with_num_threads::<TantivyDocument>(1, 32 << 20)?;
    for (ord, event) in events.iter().enumerate() {
        writer.add_document(memory.fields.document(event, ord as u64))?;
    }
    writer.commit()?;
    memory.reader.reload()?;
    let query = build_query(&memory, &SearchRequest { query: query.into(), ..SearchRequest::default() })?;
    let mut matched = Vec::new();
    let _always_continued = scan_partition(&memory, &*query, &mut 0, &mut |event| {
        matched.push(event);
        ControlFlow::Continue(())
    })?;
    // `scan` visits in index order; archive batches come in time order.
    matched.sort_by_key(|e| e.timestamp);
    Ok(matched)
}

fn to_tantivy(t: DateTime<Utc>) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_micros(t.timestamp_micros())
}

#[cfg(test)]
mod tests;
