//! Go's words for bad input: the `encoding/json` syntax errors and `encoding/base64` errors that
//! etcd's JSON gateway sends back, so a learner's typo reads as it would against a real etcd.
//!
//! etcd 3.4's gateway (grpc-gateway with golang/protobuf's `jsonpb`) decodes the *first* JSON
//! value of the body with Go's `json.Decoder` (trailing bytes are ignored), then each field with
//! `json.Unmarshal`. Bytes fields are base64 (`StdEncoding`, padding required).

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Checks that `input` starts with one syntactically valid JSON value, as Go's `json.Decoder`
/// scans it. `Ok(None)` when there is no value at all (empty or blank body: Go's `io.EOF`, which
/// the gateway treats as an empty request).
pub fn check_first_value(input: &[u8]) -> Result<Option<usize>, String> {
    let mut scan = Scanner { input, at: 0 };
    scan.skip_space();
    if scan.at == input.len() {
        return Ok(None);
    }
    scan.value()?;
    Ok(Some(scan.at))
}

/// Checks that `input` is exactly one JSON value, as `json.Unmarshal` does (jsonpb unquotes an
/// int64 given as a string and hands the inside to `json.Unmarshal`).
pub fn check_whole_value(input: &[u8]) -> Result<(), String> {
    let mut scan = Scanner { input, at: 0 };
    scan.skip_space();
    if scan.at == input.len() {
        return Err("unexpected end of JSON input".into());
    }
    scan.value().map_err(|e| {
        if e == "unexpected EOF" {
            "unexpected end of JSON input".into()
        } else {
            e
        }
    })?;
    scan.skip_space();
    match scan.peek() {
        None => Ok(()),
        Some(c) => Err(invalid(c, "after top-level value")),
    }
}

/// Go's `maxNestingDepth` (encoding/json/scanner.go, Go 1.15 and later): deeper input is a
/// syntax error, `invalid character '[' exceeded max depth`.
pub const MAX_NESTING_DEPTH: usize = 10_000;

struct Scanner<'a> {
    input: &'a [u8],
    at: usize,
}

type Scan = Result<(), String>;

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

/// Go's `quoteChar`: how `encoding/json` shows the offending byte.
pub fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        b'\\' => r"'\\'".into(),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        0x07 => r"'\a'".into(),
        0x08 => r"'\b'".into(),
        0x0b => r"'\v'".into(),
        0x0c => r"'\f'".into(),
        0x20..=0x7e => format!("'{}'", c as char),
        0x00..=0x1f | 0x7f => format!("'\\x{c:02x}'"),
        // A lone byte ≥ 0x80 becomes the rune U+0080…U+00FF in Go's `string(c)`.
        0x80..=0xa0 | 0xad => format!("'\\u{:04x}'", c),
        _ => format!("'{}'", c as char),
    }
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, String> {
        let c = self.peek().ok_or_else(|| "unexpected EOF".to_owned())?;
        self.at += 1;
        Ok(c)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// One value, scanned without recursion: `open` holds the brackets still open, so a body
    /// nested 100,000 deep costs a vector, not the stack. Like Go's scanner, the 10,001st open
    /// bracket is refused.
    fn value(&mut self) -> Scan {
        let mut open: Vec<u8> = Vec::new();
        loop {
            // Expecting the start of a value.
            self.skip_space();
            match self.next()? {
                c @ (b'{' | b'[') => {
                    if open.len() >= MAX_NESTING_DEPTH {
                        return Err(invalid(c, "exceeded max depth"));
                    }
                    self.skip_space();
                    if c == b'{' {
                        match self.next()? {
                            b'}' => {}
                            b'"' => {
                                open.push(c);
                                self.string()?;
                                self.colon()?;
                                continue;
                            }
                            c => {
                                return Err(invalid(
                                    c,
                                    "looking for beginning of object key string",
                                ))
                            }
                        }
                    } else if self.peek() == Some(b']') {
                        self.at += 1;
                    } else {
                        open.push(c);
                        continue;
                    }
                }
                b'"' => self.string()?,
                b'-' => {
                    let c = self.next()?;
                    if !c.is_ascii_digit() {
                        return Err(invalid(c, "in numeric literal"));
                    }
                    self.number(c)?
                }
                c @ b'0'..=b'9' => self.number(c)?,
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                c => return Err(invalid(c, "looking for beginning of value")),
            }
            // A value just ended: close what it ends, until one more value is expected.
            loop {
                let Some(&inside) = open.last() else {
                    return Ok(());
                };
                self.skip_space();
                match (inside, self.next()?) {
                    (b'{', b',') => {
                        self.skip_space();
                        match self.next()? {
                            b'"' => self.string()?,
                            c => {
                                return Err(invalid(
                                    c,
                                    "looking for beginning of object key string",
                                ))
                            }
                        }
                        self.colon()?;
                        break;
                    }
                    (b'{', b'}') | (b'[', b']') => {
                        open.pop();
                    }
                    (b'{', c) => return Err(invalid(c, "after object key:value pair")),
                    (_, b',') => break,
                    (_, c) => return Err(invalid(c, "after array element")),
                }
            }
        }
    }

    /// After an object key.
    fn colon(&mut self) -> Scan {
        self.skip_space();
        match self.next()? {
            b':' => Ok(()),
            c => Err(invalid(c, "after object key")),
        }
    }

    /// After the opening quote.
    fn string(&mut self) -> Scan {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let c = self.next()?;
                            if !c.is_ascii_hexdigit() {
                                return Err(invalid(c, "in \\u hexadecimal character escape"));
                            }
                        }
                    }
                    c => return Err(invalid(c, "in string escape code")),
                },
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                _ => {}
            }
        }
    }

    /// After the first digit.
    fn number(&mut self, first: u8) -> Scan {
        if first != b'0' {
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.at += 1;
            }
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "after decimal point in numeric literal"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.at += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let mut c = self.next()?;
            if c == b'+' || c == b'-' {
                c = self.next()?;
            }
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in exponent of numeric literal"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.at += 1;
            }
        }
        Ok(())
    }

    /// After the first letter.
    fn literal(&mut self, word: &str) -> Scan {
        for expected in word.bytes().skip(1) {
            let c = self.next()?;
            if c != expected {
                return Err(invalid(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(expected)),
                ));
            }
        }
        Ok(())
    }
}

/// How deep [`parse_shallow`] keeps what it reads. No etcd request goes deeper than a txn's
/// compare (four levels); below this, arrays and objects keep their kind and lose their
/// contents, which jsonpb would ignore or refuse by kind alone.
const KEPT_DEPTH: usize = 32;

/// Parses one value that [`check_first_value`] or [`check_whole_value`] already found valid,
/// keeping it only [`KEPT_DEPTH`] levels deep. The rest is skipped without recursion
/// (serde_json's `IgnoredAny`), so neither parsing nor dropping the value can exhaust a stack,
/// and a body nested 10,000 deep, which Go accepts, is not refused by serde_json's own limit.
pub fn parse_shallow(input: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(input);
    let value = Shallow { depth: 0 }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

struct Shallow {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Shallow {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shallow {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        if self.depth >= KEPT_DEPTH {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        } else {
            let depth = self.depth + 1;
            while let Some(item) = seq.next_element_seed(Shallow { depth })? {
                items.push(item);
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        if self.depth >= KEPT_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        } else {
            let depth = self.depth + 1;
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value_seed(Shallow { depth })?;
                fields.insert(key, value);
            }
        }
        Ok(Value::Object(fields))
    }
}

/// Go's `base64.StdEncoding.DecodeString`, with its error: `illegal base64 data at input byte N`.
pub fn decode_base64(src: &str) -> Result<Vec<u8>, String> {
    fn sextet(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let corrupt = |at: usize| format!("illegal base64 data at input byte {at}");
    let src = src.as_bytes();
    let newline = |c: u8| c == b'\n' || c == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut quantum = [0u8; 4];
        let mut j = 0;
        let mut len = 4;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // Padding is required: an incomplete quantum is corrupt where it began.
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if newline(c) {
                continue;
            }
            if let Some(v) = sextet(c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(corrupt(si - 1));
            }
            if j == 2 {
                while si < src.len() && newline(src[si]) {
                    si += 1;
                }
                if si == src.len() {
                    return Err(corrupt(src.len()));
                }
                if src[si] != b'=' {
                    return Err(corrupt(si - 1));
                }
                si += 1;
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                return Err(corrupt(si));
            }
            len = j;
            break;
        }
        let n = (u32::from(quantum[0]) << 18)
            | (u32::from(quantum[1]) << 12)
            | (u32::from(quantum[2]) << 6)
            | u32::from(quantum[3]);
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..len]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_read_as_go_prints_them() {
        let cases: &[(&str, &str)] = &[
            (
                "{bad",
                "invalid character 'b' looking for beginning of object key string",
            ),
            (
                "{\"key\":\"YQ==\",}",
                "invalid character '}' looking for beginning of object key string",
            ),
            ("{\"key\":\"YQ==\"", "unexpected EOF"),
            (
                "{\"key\":\"YQ==\" \"v\"}",
                "invalid character '\"' after object key:value pair",
            ),
            ("nul", "unexpected EOF"),
            (
                "nux",
                "invalid character 'x' in literal null (expecting 'l')",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            ("{\"a\" 1}", "invalid character '1' after object key"),
        ];
        for (input, want) in cases {
            assert_eq!(
                check_first_value(input.as_bytes()).unwrap_err(),
                *want,
                "{input}"
            );
        }
        assert_eq!(check_first_value(b"{\"key\":\"YQ==\"} x"), Ok(Some(14)));
        assert_eq!(check_first_value(b"  "), Ok(None));
    }

    #[test]
    fn base64_errors_name_the_byte_go_names() {
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(
            decode_base64("x").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            decode_base64("Zm9").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            decode_base64("Zm9v=").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(
            decode_base64("Zm*v").unwrap_err(),
            "illegal base64 data at input byte 2"
        );
    }
}
