//! Kubernetes YAML in and out.
//!
//! Kubernetes reads manifests with YAML 1.1 rules (go-yaml v2 under sigs.k8s.io/yaml): a plain
//! `0644` is the octal number 420 and a plain `yes` is `true`. A YAML 1.2 reader would read
//! both as strings, and writing them back quoted would change the manifest's meaning. So this
//! module resolves plain scalars the way Kubernetes does, keeps quoted scalars as strings, and
//! writes output that YAML 1.1 and 1.2 readers both read back to the same values: strings that
//! could be taken for anything else are double-quoted.
//!
//! Key order is kept; comments, anchors and scalar styles are not (aliases are expanded).

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Alias expansion budget per stream: a "billion laughs" document stops here.
const MAX_NODES: usize = 2_000_000;
const MAX_DEPTH: usize = 200;

/// A parse error with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {col}: {reason}")]
pub struct YamlError {
    pub line: usize,
    pub col: usize,
    pub reason: String,
}

/// One YAML value, in the JSON data model Kubernetes uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// A number in canonical text: decimal for integers, the written form for floats.
    Num(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

/// A mapping with string keys, in document order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(Vec<(String, Node)>);

impl Map {
    pub fn new() -> Self {
        Self(Vec::new())
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// Sets `key`, keeping its position if present, appending otherwise.
    pub fn insert(&mut self, key: &str, value: Node) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.0.push((key.to_string(), value)),
        }
    }
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }
    /// The mapping under `key`, created (or replacing a null) when missing.
    pub fn map_entry(&mut self, key: &str) -> &mut Map {
        if !matches!(self.get(key), Some(Node::Map(_))) {
            self.insert(key, Node::Map(Map::new()));
        }
        match self.get_mut(key) {
            Some(Node::Map(m)) => m,
            _ => unreachable!("just inserted a map"),
        }
    }
    /// The sequence under `key`, created (or replacing a null) when missing.
    pub fn seq_entry(&mut self, key: &str) -> &mut Vec<Node> {
        if !matches!(self.get(key), Some(Node::Seq(_))) {
            self.insert(key, Node::Seq(Vec::new()));
        }
        match self.get_mut(key) {
            Some(Node::Seq(s)) => s,
            _ => unreachable!("just inserted a sequence"),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Node)> {
        self.0.iter_mut().map(|(k, v)| (k.as_str(), v))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl IntoIterator for Map {
    type Item = (String, Node);
    type IntoIter = std::vec::IntoIter<(String, Node)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(String, Node)> for Map {
    fn from_iter<T: IntoIterator<Item = (String, Node)>>(iter: T) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(&k, v);
        }
        m
    }
}

impl Node {
    pub fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }
    pub fn int(n: i64) -> Node {
        Node::Num(n.to_string())
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// A whole number: `80`, or a float with no fraction (`80.0`), which the API receives as
    /// 80 once YAML has gone through JSON.
    pub fn as_i64(&self) -> Option<i64> {
        let Node::Num(n) = self else { return None };
        n.parse().ok().or_else(|| {
            let f: f64 = n.parse().ok()?;
            // Exactly representable and in range: no rounding can change the number.
            (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        })
    }
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// `self[k1][k2]...` through mappings.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, k| n.as_map()?.get(k))
    }
    /// Short text for reports: scalars as written, collections summarised.
    pub fn brief(&self) -> String {
        match self {
            Node::Null => "null".into(),
            Node::Bool(b) => b.to_string(),
            Node::Num(n) => n.clone(),
            Node::Str(s) => s.clone(),
            Node::Seq(s) => format!("[{}]", s.iter().map(Node::brief).collect::<Vec<_>>().join(", ")),
            Node::Map(m) => format!(
                "{{{}}}",
                m.iter().map(|(k, v)| format!("{k}: {}", v.brief())).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Every document of a YAML stream; empty documents come back as `Node::Null`. A character
/// YAML does not allow in a stream (YAML 1.2 §5.1, `c-printable`: control characters, NUL
/// among them) is an error at its position, as kubectl's reader makes it: the parser would
/// otherwise end the stream at a NUL and return only what came before.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    check_printable(text)?;
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: Vec::new(),
        nodes: 0,
    };
    let mut docs = Vec::new();
    loop {
        let (event, mark) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => return Ok(docs),
            Event::DocumentStart => {
                let (first, mark) = reader.next()?;
                docs.push(reader.node(first, mark, 0)?);
            }
            other => return Err(error(mark, format!("unexpected {other:?} outside a document"))),
        }
    }
}

/// YAML 1.2's `c-printable`: the characters a stream may hold as they are.
fn is_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}') || (c >= '\u{a0}' && c != '\u{fffe}' && c != '\u{ffff}')
}

/// Characters the writer escapes although YAML allows them raw: a byte-order mark and the
/// Unicode line breaks, which editors and readers treat inconsistently.
fn is_ambiguous(c: char) -> bool {
    matches!(c, '\u{feff}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn check_printable(text: &str) -> Result<(), YamlError> {
    let Some((at, c)) = text.char_indices().find(|&(_, c)| !is_printable(c)) else {
        return Ok(());
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or(before).chars().count() + 1;
    Err(YamlError {
        line,
        col,
        reason: format!(
            "control character U+{:04X} is not allowed in YAML (write it escaped in a double-quoted string)",
            u32::from(c)
        ),
    })
}

struct Reader<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: Vec<(usize, Node)>,
    nodes: usize,
}

fn error(mark: Marker, reason: impl Into<String>) -> YamlError {
    YamlError {
        line: mark.line(),
        col: mark.col() + 1,
        reason: reason.into(),
    }
}

impl Reader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), YamlError> {
        self.parser.next_token().map_err(|e| error(*e.marker(), e.info()))
    }

    fn count(&mut self, n: usize, mark: Marker) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(error(mark, format!("more than {MAX_NODES} values after expanding aliases")));
        }
        Ok(())
    }

    fn node(&mut self, event: Event, mark: Marker, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(error(mark, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.count(1, mark)?;
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                (scalar(text, style, tag.as_deref()).map_err(|r| error(mark, r))?, anchor)
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone())
                    .ok_or_else(|| error(mark, "alias to an unknown anchor"))?;
                self.count(size(&node), mark)?;
                return Ok(node);
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, m, depth + 1)?);
                }
                (Node::Seq(items), anchor)
            }
            Event::MappingStart(anchor, _) => (Node::Map(self.mapping(depth)?), anchor),
            other => return Err(error(mark, format!("unexpected {other:?}"))),
        };
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        Ok(node)
    }

    fn mapping(&mut self, depth: usize) -> Result<Map, YamlError> {
        let mut map = Map::new();
        let mut merged: Vec<Map> = Vec::new();
        loop {
            let (ev, kmark) = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let is_merge = matches!(&ev, Event::Scalar(t, TScalarStyle::Plain, _, None) if t == "<<");
            let key = self.node(ev, kmark, depth + 1)?;
            let (vev, vmark) = self.next()?;
            let value = self.node(vev, vmark, depth + 1)?;
            if is_merge {
                // `<<: *base` or `<<: [*a, *b]`: keys not set here come from the merged maps.
                match value {
                    Node::Map(m) => merged.push(m),
                    Node::Seq(items) => {
                        for item in items {
                            match item {
                                Node::Map(m) => merged.push(m),
                                _ => return Err(error(vmark, "a merge key (<<) takes mappings only")),
                            }
                        }
                    }
                    _ => return Err(error(vmark, "a merge key (<<) takes mappings only")),
                }
                continue;
            }
            let key = match key {
                Node::Str(s) | Node::Num(s) => s,
                Node::Bool(b) => b.to_string(),
                Node::Null => "null".to_string(),
                Node::Seq(_) | Node::Map(_) => return Err(error(kmark, "a mapping key must be a scalar")),
            };
            if map.get(&key).is_some() {
                return Err(error(kmark, format!("duplicate key `{key}`")));
            }
            map.0.push((key, value));
        }
        for m in merged {
            for (k, v) in m.0 {
                if map.get(&k).is_none() {
                    map.0.push((k, v));
                }
            }
        }
        Ok(map)
    }
}

fn size(node: &Node) -> usize {
    match node {
        Node::Seq(s) => 1 + s.iter().map(size).sum::<usize>(),
        Node::Map(m) => 1 + m.0.iter().map(|(_, v)| size(v)).sum::<usize>(),
        _ => 1,
    }
}

fn scalar(text: String, style: TScalarStyle, tag: Option<&str>) -> Result<Node, String> {
    match tag {
        Some("tag:yaml.org,2002:str" | "!!str") => return Ok(Node::Str(text)),
        Some("tag:yaml.org,2002:binary" | "!!binary") => return Ok(Node::Str(text)),
        Some(t @ ("tag:yaml.org,2002:int" | "!!int" | "tag:yaml.org,2002:float" | "!!float")) => {
            return match resolve_plain(&text) {
                n @ Node::Num(_) => Ok(n),
                _ => Err(format!("`{text}` is not a number but is tagged {t}")),
            };
        }
        Some(t @ ("tag:yaml.org,2002:bool" | "!!bool")) => {
            return match resolve_plain(&text) {
                b @ Node::Bool(_) => Ok(b),
                _ => Err(format!("`{text}` is not a boolean but is tagged {t}")),
            };
        }
        Some("tag:yaml.org,2002:null" | "!!null") => return Ok(Node::Null),
        _ => {}
    }
    Ok(match style {
        TScalarStyle::Plain => resolve_plain(&text),
        _ => Node::Str(text),
    })
}

/// How Kubernetes' YAML 1.1 reader types a plain scalar.
pub fn resolve_plain(text: &str) -> Node {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => return Node::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => return Node::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Node::Num(".inf".into()),
        "-.inf" | "-.Inf" | "-.INF" => return Node::Num("-.inf".into()),
        ".nan" | ".NaN" | ".NAN" => return Node::Num(".nan".into()),
        _ => {}
    }
    if let Some(n) = resolve_int(text) {
        return Node::Num(n);
    }
    if is_float(text)
        && let Ok(f) = text.replace('_', "").parse::<f64>()
        && f.is_finite()
    {
        return Node::Num(float_text(f));
    }
    Node::Str(text.to_string())
}

fn resolve_int(text: &str) -> Option<String> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = |s: &str, radix: u32| -> Option<i128> {
        let s = s.replace('_', "");
        if s.is_empty() {
            return None;
        }
        i128::from_str_radix(&s, radix).ok()
    };
    let value = if let Some(hex) = body.strip_prefix("0x") {
        digits(hex, 16)?
    } else if let Some(bin) = body.strip_prefix("0b") {
        digits(bin, 2)?
    } else if body.len() > 1 && body.starts_with('0') {
        if !body.bytes().all(|b| matches!(b, b'0'..=b'7' | b'_')) {
            return None;
        }
        digits(&body[1..], 8)?
    } else {
        if !body.bytes().next()?.is_ascii_digit() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return None;
        }
        digits(body, 10)?
    };
    Some(if neg { (-value).to_string() } else { value.to_string() })
}

/// go-yaml's float pattern: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some())
}

/// A float as text that YAML 1.1 readers (which need a `.`) and 1.2 readers both take as a float.
fn float_text(f: f64) -> String {
    let s = format!("{f:?}");
    match s.find('e') {
        Some(i) if !s[..i].contains('.') => format!("{}.0{}", &s[..i], &s[i..]),
        _ => s,
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Documents as one multi-document stream (`---` between documents).
pub fn emit_documents<'a>(docs: impl IntoIterator<Item = &'a Node>) -> String {
    let mut out = String::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit_document(doc, &mut out);
    }
    out
}

/// Documents as JSON, for manifests that came in as `.json`: one object as itself, several as
/// a `v1` `List` (what `kubectl get -o json` prints for many).
pub fn emit_json(docs: &[Node]) -> String {
    let value = match docs {
        [one] => to_json(one),
        many => serde_json::json!({"apiVersion": "v1", "kind": "List", "items": many.iter().map(to_json).collect::<Vec<_>>()}),
    };
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Num(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<u64>().map(Value::from))
            .ok()
            .or_else(|| n.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number))
            .unwrap_or_else(|| Value::String(n.clone())),
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Node::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
    }
}

fn emit_document(doc: &Node, out: &mut String) {
    match doc {
        Node::Map(m) if !m.is_empty() => emit_map(m, 0, out),
        Node::Seq(s) if !s.is_empty() => emit_seq(s, 0, out),
        scalar => {
            out.push_str(&inline(scalar, 0));
            out.push('\n');
        }
    }
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn emit_map(m: &Map, level: usize, out: &mut String) {
    for (i, (k, v)) in m.0.iter().enumerate() {
        if i > 0 {
            indent(level, out);
        }
        out.push_str(&key_text(k));
        out.push(':');
        emit_value(v, level, out);
    }
}

fn emit_seq(s: &[Node], level: usize, out: &mut String) {
    for (i, item) in s.iter().enumerate() {
        if i > 0 {
            indent(level, out);
        }
        out.push('-');
        match item {
            Node::Map(m) if !m.is_empty() => {
                out.push(' ');
                emit_map(m, level + 2, out);
            }
            Node::Seq(inner) if !inner.is_empty() => {
                out.push(' ');
                emit_seq(inner, level + 2, out);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar, level + 2));
                out.push('\n');
            }
        }
    }
}

/// The value after `key:`; `level` is the key's indentation.
fn emit_value(v: &Node, level: usize, out: &mut String) {
    match v {
        Node::Map(m) if !m.is_empty() => {
            out.push('\n');
            indent(level + 2, out);
            emit_map(m, level + 2, out);
        }
        Node::Seq(s) if !s.is_empty() => {
            // Sequences sit at the key's own indentation, as kubectl writes them.
            out.push('\n');
            indent(level, out);
            emit_seq(s, level, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar, level + 2));
            out.push('\n');
        }
    }
}

/// A scalar or an empty collection on one line; multi-line strings as literal blocks
/// indented to `block_indent`.
fn inline(node: &Node, block_indent: usize) -> String {
    match node {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Num(n) => n.clone(),
        Node::Seq(_) => "[]".into(),
        Node::Map(_) => "{}".into(),
        Node::Str(s) => {
            if is_plain_safe(s) {
                s.clone()
            } else if let Some(block) = literal_block(s, block_indent) {
                block
            } else {
                double_quoted(s)
            }
        }
    }
}

fn key_text(k: &str) -> String {
    if is_plain_safe(k) { k.to_string() } else { double_quoted(k) }
}

/// True when `s` can be written unquoted and every YAML 1.1 or 1.2 reader reads it back as
/// this very string. Deliberately narrow: anything unusual is quoted.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if s.ends_with([' ', ':']) || s.contains(": ") || s.contains(" #") || s.contains("  ") {
        return false;
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._/-+=@:,() $^~".contains(c);
    if !s.chars().all(allowed) || s.contains(',') && s.contains(['[', '{']) {
        return false;
    }
    // Words YAML 1.1 or 1.2 give another type (null, booleans, .inf and friends).
    matches!(resolve_plain(s), Node::Str(_))
}

fn literal_block(s: &str, block_indent: usize) -> Option<String> {
    if !s.contains('\n') || s.starts_with([' ', '\n']) {
        return None;
    }
    let body = s.strip_suffix('\n');
    let (chomp, body) = match body {
        Some(b) if b.ends_with('\n') => return None,
        Some(b) => ("", b),
        None => ("-", s),
    };
    // Trailing blanks and control characters are easy to lose in a block; quote those strings.
    if !body
        .chars()
        .all(|c| c == '\n' || (is_printable(c) && !is_ambiguous(c) && c != '\t' && c != '\r'))
        || body.split('\n').any(|l| l.ends_with(' '))
    {
        return None;
    }
    let mut out = format!("|{chomp}\n");
    for line in body.split('\n') {
        if !line.is_empty() {
            indent(block_indent, &mut out);
            out.push_str(line);
        }
        out.push('\n');
    }
    out.pop();
    Some(out)
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if !is_printable(c) || is_ambiguous(c) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn a_control_character_is_an_error_not_the_end_of_the_stream() {
        // yaml-rust2 stops at a NUL as at the end of input: the rest would be dropped silently.
        let err = parse_documents("a: 1\nb: x\0y\nc: 3\n").unwrap_err();
        assert_eq!((err.line, err.col), (2, 5));
        assert!(err.reason.contains("U+0000"), "{err}");
        let err = parse_documents("a: \"\u{1b}[2J\"\n").unwrap_err();
        assert!(err.reason.contains("U+001B"), "{err}");
        assert!(parse_documents("a: \"tab\there \\u0000 é \u{85}\"\r\n").is_ok());
        // What the writer writes, the reader takes back: escaped where YAML wants it.
        let odd = Node::Map(Map(vec![("a".into(), Node::str("\u{fffe}\u{7f}\u{9f}\u{2028}x\ny"))]));
        let written = emit_documents([&odd]);
        assert!(written.contains("\\ufffe") && written.contains("\\u007f"), "{written}");
        assert_eq!(parse_documents(&written).unwrap(), vec![odd]);
    }

    #[test]
    fn plain_scalars_resolve_the_way_kubernetes_reads_them() {
        let doc =
            one("a: 0644\nb: '0644'\nc: yes\nd: \"yes\"\ne: 0x1F\nf: 1.50\ng: ~\nh: 2024-01-01\ni: 1e3\nj: 1_000\nk: !!str 12\nl: -7\n");
        let m = doc.as_map().unwrap();
        assert_eq!(m.get("a"), Some(&Node::Num("420".into())));
        assert_eq!(m.get("b"), Some(&Node::str("0644")));
        assert_eq!(m.get("c"), Some(&Node::Bool(true)));
        assert_eq!(m.get("d"), Some(&Node::str("yes")));
        assert_eq!(m.get("e"), Some(&Node::Num("31".into())));
        assert_eq!(m.get("f"), Some(&Node::Num("1.5".into())));
        assert_eq!(m.get("g"), Some(&Node::Null));
        assert_eq!(m.get("h"), Some(&Node::str("2024-01-01")));
        assert_eq!(m.get("i"), Some(&Node::Num("1000.0".into())));
        assert_eq!(m.get("j"), Some(&Node::Num("1000".into())));
        assert_eq!(m.get("k"), Some(&Node::str("12")));
        assert_eq!(m.get("l"), Some(&Node::Num("-7".into())));
    }

    #[test]
    fn output_reads_back_to_the_same_values() {
        let text = "kind: ConfigMap\ndata:\n  on: 'on'\n  mode: '0644'\n  date: '2024-01-01'\n  script: |\n    #!/bin/sh\n    echo \"hi: there\"\n  tail: \"x \"\n  empty: ''\n  star: '*x'\n  image: nginx:1.25\n  url: http://a.b/c?d=e#f\n  nested: [1, [2, {a: b}], {}]\n";
        let doc = one(text);
        let out = emit_documents([&doc]);
        assert_eq!(one(&out), doc, "{out}");
        assert_eq!(emit_documents([&one(&out)]), out, "emitting is stable");
        assert!(out.contains("image: nginx:1.25\n"), "{out}");
        assert!(out.contains("script: |\n    #!/bin/sh\n"), "{out}");
        assert!(out.contains("\"true\": \"on\""), "{out}");
    }

    #[test]
    fn json_output_keeps_the_values() {
        // Keys in sorted order: JSON objects come out sorted.
        let doc = one("data: {f: 1.50, flag: yes, list: [1, x], mode: '0644', none: ~, num: 0644}\nkind: ConfigMap\n");
        let json: serde_json::Value = serde_json::from_str(&emit_json(std::slice::from_ref(&doc))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "ConfigMap", "data": {"mode": "0644", "num": 420, "f": 1.5, "flag": true, "none": null, "list": [1, "x"]}})
        );
        assert_eq!(one(&emit_json(std::slice::from_ref(&doc))), doc, "JSON reads back as the same YAML");
        let two: serde_json::Value = serde_json::from_str(&emit_json(&[doc.clone(), doc])).unwrap();
        assert_eq!(
            (two["kind"].as_str(), two["items"].as_array().map(Vec::len)),
            (Some("List"), Some(2))
        );
    }

    #[test]
    fn anchors_merges_and_multiple_documents() {
        let docs = parse_documents("---\nbase: &b {x: 1, z: 2}\nuse:\n  <<: *b\n  z: 3\n---\n# only a comment\n---\n- a\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].at(&["use", "x"]), Some(&Node::Num("1".into())));
        assert_eq!(docs[0].at(&["use", "z"]), Some(&Node::Num("3".into())));
        assert_eq!(docs[1], Node::Null);
    }

    #[test]
    fn bad_input_is_an_error_with_a_position() {
        let e = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!((e.line, e.reason.as_str()), (2, "duplicate key `a`"));
        let e = parse_documents("a: [1, 2\n").unwrap_err();
        assert!(e.line >= 1, "{e}");
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        let e = parse_documents(bomb).unwrap_err();
        assert!(e.reason.contains("after expanding aliases"), "{e}");
    }
}
