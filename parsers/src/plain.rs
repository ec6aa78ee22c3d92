//! The fallback: one event per line, with a leading timestamp and a shouted level
//! picked up when present.

use chrono::{DateTime, Utc};
use sluice_core::{Event, Level};

use crate::text::sniff_level;
use crate::{FormatParser, ParseContext, timestamp};

pub(crate) struct PlainParser {
    ctx: ParseContext,
    last_time: Option<DateTime<Utc>>,
}

impl PlainParser {
    pub(crate) fn new(ctx: ParseContext) -> Self {
        PlainParser { ctx, last_time: None }
    }
}

impl FormatParser for PlainParser {
    fn push_line(&mut self, line: &[u8], _offset: u64, out: &mut Vec<Event>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let leading = timestamp::iso_prefix(line, self.ctx.timezone).map(|(t, _)| t);
        let at = leading.or(self.last_time).unwrap_or(self.ctx.received_at);
        self.last_time = Some(at);
        let mut event = Event::new(at, crate::text::to_text(line));
        event.level = sniff_level(&event.message).unwrap_or(Level::Info);
        out.push(event);
    }

    fn flush(&mut self, _out: &mut Vec<Event>) {}

    fn pending_offset(&self) -> Option<u64> {
        None
    }
}
