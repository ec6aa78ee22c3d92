//! The tokenizer for log text: words are runs of letters and digits (so paths, IPs, ids and
//! `key=value` pairs split into searchable terms), and runs of CJK characters, which have
//! no spaces between words, become overlapping bigrams (`支付超时` -> `支付 付超 超时`), the
//! way Lucene's CJK analyzer does. A query for any word of two or more CJK characters is
//! then a phrase of its bigrams and finds the word anywhere in a message.

use std::iter::Peekable;
use std::str::CharIndices;

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

#[derive(Clone, Default)]
pub(crate) struct LogTokenizer {
    token: Token,
}

pub(crate) struct LogTokenStream<'a> {
    text: &'a str,
    chars: Peekable<CharIndices<'a>>,
    token: &'a mut Token,
    /// The last token was a bigram inside a CJK run (so its last character needs no unigram).
    in_bigrams: bool,
}

impl Tokenizer for LogTokenizer {
    type TokenStream<'a> = LogTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream<'a> {
        self.token.reset();
        LogTokenStream { text, chars: text.char_indices().peekable(), token: &mut self.token, in_bigrams: false }
    }
}

/// Han, kana and hangul: scripts written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FFFF) // CJK extensions B-F
}

impl LogTokenStream<'_> {
    fn emit(&mut self, from: usize, to: usize) {
        self.token.text.clear();
        self.token.text.push_str(&self.text[from..to]);
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = self.token.position.wrapping_add(1);
    }
}

impl TokenStream for LogTokenStream<'_> {
    fn advance(&mut self) -> bool {
        while let Some((start, c)) = self.chars.next() {
            if !c.is_alphanumeric() {
                self.in_bigrams = false;
                continue;
            }
            if is_cjk(c) {
                let end = start + c.len_utf8();
                match self.chars.peek() {
                    Some(&(next_start, next)) if is_cjk(next) => {
                        self.in_bigrams = true;
                        self.emit(start, next_start + next.len_utf8());
                        return true;
                    }
                    _ if self.in_bigrams => {
                        // The run's last character is in the bigram before it.
                        self.in_bigrams = false;
                        continue;
                    }
                    _ => {
                        self.emit(start, end);
                        return true;
                    }
                }
            }
            self.in_bigrams = false;
            let mut end = start + c.len_utf8();
            while let Some(&(i, next)) = self.chars.peek() {
                if !next.is_alphanumeric() || is_cjk(next) {
                    break;
                }
                end = i + next.len_utf8();
                self.chars.next();
            }
            self.emit(start, end);
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut tokenizer = LogTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            assert_eq!(&text[token.offset_from..token.offset_to], token.text);
            out.push(token.text.clone());
        }
        out
    }

    #[test]
    fn words_split_on_punctuation_and_cjk_runs_become_bigrams() {
        assert_eq!(tokens("GET /api/pay?id=7 10.0.0.1"), ["GET", "api", "pay", "id", "7", "10", "0", "0", "1"]);
        assert_eq!(tokens("支付超时 payment"), ["支付", "付超", "超时", "payment"]);
        assert_eq!(tokens("订单12支付超时，请重试"), ["订单", "12", "支付", "付超", "超时", "请重", "重试"]);
        assert_eq!(tokens("单 x"), ["单", "x"]);
        assert_eq!(tokens("ログ出力"), ["ログ", "グ出", "出力"]);
        assert!(tokens("").is_empty());
        assert_eq!(tokens("traceId=4bf92f35"), ["traceId", "4bf92f35"]);
    }
}
