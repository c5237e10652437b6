//! Splits the OVSDB byte stream into JSON-RPC messages. RFC 7047 sends JSON values back to back
//! with no length prefix or delimiter, so the reader must find where each object ends. This
//! scanner tracks nesting depth and string state across reads, so a message split over many
//! reads is scanned once (re-parsing the whole buffer on every read would be quadratic in the
//! size of a large reply). Written by hand: `serde_json`'s stream deserializer cannot resume a
//! value cut off by the end of a read.

/// Refuse a single message larger than this (a runaway peer, not a database).
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FramingError {
    #[error("the peer sent {0:?} where a JSON object should start")]
    NotAnObject(char),
    #[error("a message exceeds {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("a message is not valid JSON: {0}")]
    Json(String),
}

/// Accumulates bytes and yields complete messages.
#[derive(Debug, Default)]
pub struct Splitter {
    buffer: Vec<u8>,
    /// How far `buffer` has been scanned.
    scanned: usize,
    /// Nesting depth of the message being scanned; 0 between messages.
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Splitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete message, if the buffer holds one.
    pub fn next_message(&mut self) -> Result<Option<serde_json::Value>, FramingError> {
        while self.scanned < self.buffer.len() {
            let byte = self.buffer[self.scanned];
            self.scanned += 1;
            if self.depth == 0 {
                match byte {
                    b' ' | b'\t' | b'\r' | b'\n' => {
                        // Whitespace between messages: drop it so the buffer starts at `{`.
                        self.buffer.drain(..self.scanned);
                        self.scanned = 0;
                    }
                    b'{' => self.depth = 1,
                    other => return Err(FramingError::NotAnObject(other as char)),
                }
                continue;
            }
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let message: Vec<u8> = self.buffer.drain(..self.scanned).collect();
                        self.scanned = 0;
                        return serde_json::from_slice(&message)
                            .map(Some)
                            .map_err(|e| FramingError::Json(e.to_string()));
                    }
                }
                _ => {}
            }
        }
        if self.buffer.len() > MAX_MESSAGE_BYTES {
            return Err(FramingError::TooLarge);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn drain(splitter: &mut Splitter) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Some(message) = splitter.next_message().expect("valid stream") {
            out.push(message);
        }
        out
    }

    #[test]
    fn splits_back_to_back_messages() {
        let mut splitter = Splitter::new();
        splitter.feed(br#"{"id":1,"result":[]} {"id":2,"result":{"a":"}{"}}"#);
        assert_eq!(
            drain(&mut splitter),
            vec![
                json!({"id": 1, "result": []}),
                json!({"id": 2, "result": {"a": "}{"}})
            ]
        );
    }

    #[test]
    fn waits_for_the_rest_of_a_message() {
        let mut splitter = Splitter::new();
        splitter.feed(br#"{"id":1,"res"#);
        assert_eq!(splitter.next_message(), Ok(None));
        splitter.feed(br#"ult":"a\"}"}"#);
        assert_eq!(
            splitter.next_message(),
            Ok(Some(json!({"id": 1, "result": "a\"}"})))
        );
        assert_eq!(splitter.next_message(), Ok(None));
    }

    #[test]
    fn refuses_garbage_between_messages() {
        let mut splitter = Splitter::new();
        splitter.feed(b"{} x");
        assert_eq!(splitter.next_message(), Ok(Some(json!({}))));
        assert_eq!(splitter.next_message(), Err(FramingError::NotAnObject('x')));
    }

    fn message() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            ".*".prop_map(|s: String| json!(s)),
            Just(json!(null)),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!(v)),
                prop::collection::hash_map("[a-z{}\\[\\]\"\\\\]{0,4}", inner, 0..4)
                    .prop_map(|m| json!(m)),
            ]
        });
        prop::collection::hash_map("[a-z\"{}]{1,5}", value, 0..4).prop_map(|m| json!(m))
    }

    proptest! {
        /// However the stream is cut into reads, the same messages come out.
        #[test]
        fn any_cut_yields_the_same_messages(
            messages in prop::collection::vec(message(), 1..5),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let stream: Vec<u8> = messages
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            let mut splitter = Splitter::new();
            let mut out = Vec::new();
            for pair in points.windows(2) {
                splitter.feed(&stream[pair[0]..pair[1]]);
                out.extend(drain(&mut splitter));
            }
            prop_assert_eq!(out, messages);
        }
    }
}
