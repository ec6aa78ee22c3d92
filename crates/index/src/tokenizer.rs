//! The tokenizer for log text: words are runs of letters and digits (so paths, IPs, ids and
//! `key=value` pairs split into searchable terms), and runs of CJK characters, which have
//! no spaces between words, become overlapping bigrams (`支付超时` -> `支付 付超 超时`), the
//! way Lucene's CJK analyzer does. A query for any word of two or more CJK characters is
//! then a phrase of its bigrams and finds the word anywhere in a message.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Words this long or longer (in bytes, before lowercasing) are not indexed: they are
/// blobs (base64, hex dumps), not words anyone types. Their position is still counted, as
/// tantivy's `RemoveLongFilter` does.
const MAX_WORD_BYTES: usize = 256;

/// Splits, drops over-long words and lowercases in one pass over the bytes: log text is
/// almost all ASCII, which needs no `char` decoding, and a lowercasing filter after the
/// tokenizer would copy every token again. The tokens are exactly what the earlier
/// char-by-char tokenizer followed by tantivy's `RemoveLongFilter::limit(256)` and
/// `LowerCaser` gave, so indexes written before read the same (`tests::reference`).
#[derive(Clone, Default)]
pub(crate) struct LogTokenizer {
    token: Token,
}

pub(crate) struct LogTokenStream<'a> {
    text: &'a str,
    /// Byte offset of the next character to read.
    at: usize,
    token: &'a mut Token,
    /// The last token was a bigram inside a CJK run (so its last character needs no unigram).
    in_bigrams: bool,
}

impl Tokenizer for LogTokenizer {
    type TokenStream<'a> = LogTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream<'a> {
        self.token.reset();
        LogTokenStream { text, at: 0, token: &mut self.token, in_bigrams: false }
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

/// What a character is to the tokenizer.
#[derive(PartialEq)]
enum Class {
    Separator,
    Word,
    Cjk,
}

impl LogTokenStream<'_> {
    /// The class and length of the character at byte `at` (a character boundary).
    fn char_at(&self, at: usize) -> Option<(Class, usize)> {
        let byte = *self.text.as_bytes().get(at)?;
        if byte.is_ascii() {
            let class = if byte.is_ascii_alphanumeric() { Class::Word } else { Class::Separator };
            return Some((class, 1));
        }
        let c = self.text[at..].chars().next()?;
        let class = if !c.is_alphanumeric() {
            Class::Separator
        } else if is_cjk(c) {
            Class::Cjk
        } else {
            Class::Word
        };
        Some((class, c.len_utf8()))
    }

    /// The length of the character at byte `at` if it lies in a CJK block.
    fn cjk_at(&self, at: usize) -> Option<usize> {
        let c = self.text.get(at..)?.chars().next()?;
        is_cjk(c).then(|| c.len_utf8())
    }

    /// Makes `text[from..to]` the current token, lowercased; false (and the position
    /// counted) if it is too long to index.
    fn emit(&mut self, from: usize, to: usize) -> bool {
        self.token.position = self.token.position.wrapping_add(1);
        if to - from >= MAX_WORD_BYTES {
            return false;
        }
        let word = &self.text[from..to];
        self.token.text.clear();
        if word.is_ascii() {
            self.token.text.push_str(word);
            self.token.text.make_ascii_lowercase();
        } else {
            // Character by character, as tantivy's `LowerCaser` does (no final-sigma rule).
            self.token.text.extend(word.chars().flat_map(char::to_lowercase));
        }
        self.token.offset_from = from;
        self.token.offset_to = to;
        true
    }
}

impl TokenStream for LogTokenStream<'_> {
    fn advance(&mut self) -> bool {
        while let Some((class, len)) = self.char_at(self.at) {
            let start = self.at;
            self.at += len;
            match class {
                Class::Separator => self.in_bigrams = false,
                // The next character pairs with this one if it is in a CJK block at all,
                // even a mark such as `・` or a combining sound mark.
                Class::Cjk => match self.cjk_at(self.at) {
                    Some(next_len) => {
                        self.in_bigrams = true;
                        if self.emit(start, self.at + next_len) {
                            return true;
                        }
                    }
                    // The run's last character is in the bigram before it.
                    _ if self.in_bigrams => self.in_bigrams = false,
                    _ => {
                        if self.emit(start, self.at) {
                            return true;
                        }
                    }
                },
                Class::Word => {
                    self.in_bigrams = false;
                    while let Some((Class::Word, len)) = self.char_at(self.at) {
                        self.at += len;
                    }
                    if self.emit(start, self.at) {
                        return true;
                    }
                }
            }
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
    use proptest::prelude::*;

    use super::*;

    type Tokens = Vec<(String, usize, usize, usize)>;

    /// (text, position, offset_from, offset_to) of every token.
    fn tokens_of(text: &str) -> Tokens {
        let mut tokenizer = LogTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push((token.text.clone(), token.position, token.offset_from, token.offset_to));
        }
        out
    }

    fn tokens(text: &str) -> Vec<String> {
        tokens_of(text).into_iter().map(|t| t.0).collect()
    }

    /// The rules written plainly, over `char`s: runs of letters and digits are words; a
    /// CJK letter followed by any character of a CJK block gives that pair, unless it ends
    /// a run of pairs, and a lone one gives itself; every token takes a position, those of
    /// 256 bytes or more are then dropped, and the rest are lowercased character by
    /// character. This is what the tokenizer followed by tantivy's
    /// `RemoveLongFilter::limit(256)` and `LowerCaser` gave.
    fn reference(text: &str) -> Tokens {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let end_of = |i: usize| chars.get(i).map_or(text.len(), |c| c.0);
        let kind = |i: usize| {
            let c = chars[i].1;
            if !c.is_alphanumeric() {
                Class::Separator
            } else if is_cjk(c) {
                Class::Cjk
            } else {
                Class::Word
            }
        };
        let (mut out, mut position) = (Vec::new(), 0);
        let mut push = |from: usize, to: usize| {
            if to - from < 256 {
                let lower: String = text[from..to].chars().flat_map(char::to_lowercase).collect();
                out.push((lower, position, from, to));
            }
            position += 1;
        };
        let (mut i, mut in_bigrams) = (0, false);
        while i < chars.len() {
            match kind(i) {
                Class::Separator => in_bigrams = false,
                Class::Cjk if chars.get(i + 1).is_some_and(|c| is_cjk(c.1)) => {
                    push(chars[i].0, end_of(i + 2));
                    in_bigrams = true;
                }
                Class::Cjk if in_bigrams => in_bigrams = false,
                Class::Cjk => push(chars[i].0, end_of(i + 1)),
                Class::Word => {
                    let mut j = i;
                    while j < chars.len() && kind(j) == Class::Word {
                        j += 1;
                    }
                    push(chars[i].0, end_of(j));
                    in_bigrams = false;
                    i = j;
                    continue;
                }
            }
            i += 1;
        }
        out
    }

    #[test]
    fn words_split_on_punctuation_and_cjk_runs_become_bigrams() {
        assert_eq!(tokens("GET /api/pay?id=7 10.0.0.1"), ["get", "api", "pay", "id", "7", "10", "0", "0", "1"]);
        assert_eq!(tokens("支付超时 payment"), ["支付", "付超", "超时", "payment"]);
        assert_eq!(tokens("订单12支付超时，请重试"), ["订单", "12", "支付", "付超", "超时", "请重", "重试"]);
        assert_eq!(tokens("单 x"), ["单", "x"]);
        assert_eq!(tokens("ログ出力"), ["ログ", "グ出", "出力"]);
        assert!(tokens("").is_empty());
        assert_eq!(tokens("traceId=4bf92f35"), ["traceid", "4bf92f35"]);
        assert_eq!(tokens("국・x"), ["국・", "x"], "a CJK mark pairs with the letter before it");
        assert_eq!(tokens("ÉCHEC ΟΔΟΣ İstanbul"), ["échec", "οδοσ", "i\u{307}stanbul"]);
    }

    #[test]
    fn over_long_words_are_dropped_but_keep_their_position() {
        let blob = "A".repeat(256);
        let text = format!("before {blob} after {}", "b".repeat(255));
        let found = tokens_of(&text);
        assert_eq!(found.iter().map(|t| (t.0.len(), t.1)).collect::<Vec<_>>(), [(6, 0), (5, 2), (255, 3)]);
        assert_eq!(found, reference(&text));
    }

    proptest! {
        #[test]
        fn tokens_follow_the_plain_rules(
            pieces in proptest::collection::vec(
                prop_oneof![
                    "[a-zA-Z0-9 ./=:_-]{0,12}",
                    "[支付超时订单ログ出力・ー한국 ]{0,8}",
                    "[ΣσÉéİıßẞ0-9 ]{0,6}",
                    "[aZ9支]{250,260}",
                    ".{0,10}",
                ],
                0..8,
            )
        ) {
            let text = pieces.concat();
            prop_assert_eq!(tokens_of(&text), reference(&text));
        }
    }
}
