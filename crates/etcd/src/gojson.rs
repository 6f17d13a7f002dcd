//! Go's words for bad input: the `encoding/json` syntax errors and `encoding/base64` errors that
//! etcd's JSON gateway sends back, so a learner's typo reads as it would against a real etcd.
//!
//! etcd 3.4's gateway (grpc-gateway with golang/protobuf's `jsonpb`) decodes the *first* JSON
//! value of the body with Go's `json.Decoder` (trailing bytes are ignored), then each field with
//! `json.Unmarshal`. Bytes fields are base64 (`StdEncoding`, padding required).

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

    fn value(&mut self) -> Scan {
        self.skip_space();
        match self.next()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string(),
            b'-' => {
                let c = self.next()?;
                if !c.is_ascii_digit() {
                    return Err(invalid(c, "in numeric literal"));
                }
                self.number(c)
            }
            c @ b'0'..=b'9' => self.number(c),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c => Err(invalid(c, "looking for beginning of value")),
        }
    }

    fn object(&mut self) -> Scan {
        self.skip_space();
        match self.next()? {
            b'}' => return Ok(()),
            b'"' => self.string()?,
            c => return Err(invalid(c, "looking for beginning of object key string")),
        }
        loop {
            self.skip_space();
            match self.next()? {
                b':' => {}
                c => return Err(invalid(c, "after object key")),
            }
            self.value()?;
            self.skip_space();
            match self.next()? {
                b',' => {}
                b'}' => return Ok(()),
                c => return Err(invalid(c, "after object key:value pair")),
            }
            self.skip_space();
            match self.next()? {
                b'"' => self.string()?,
                c => return Err(invalid(c, "looking for beginning of object key string")),
            }
        }
    }

    fn array(&mut self) -> Scan {
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.skip_space();
            match self.next()? {
                b',' => {}
                b']' => return Ok(()),
                c => return Err(invalid(c, "after array element")),
            }
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
