//! A small, bounded XML element tree over quick-xml.
//!
//! Depot XML is tiny per document but comes from untrusted sources and many writers
//! (vibauthor, esximage, V-Front), so we read it into a tree and map the tree onto the
//! model by local name. A tree keeps unknown elements for round trips, lets the model
//! code report the exact path of a bad field, and makes element order irrelevant.
//! Documents are bounded in size, depth and element count before they are parsed.

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer, XmlVersion};

/// Limits applied to every document; the defaults are far above anything real
/// (the largest real `vmware.xml` of a full ESXi depot is a few MiB).
#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self { max_bytes: 64 << 20, max_depth: 64, max_elements: 2_000_000 }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("XML is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("XML nests deeper than {limit} elements at byte {position}")]
    TooDeep { limit: usize, position: u64 },
    #[error("XML has more than {limit} elements")]
    TooManyElements { limit: usize },
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    #[error("XML document has no root element")]
    Empty,
    #[error("XML has content after the root element at byte {position}")]
    TrailingContent { position: u64 },
}

/// One XML element: name, attributes in document order, children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    Comment(String),
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), attrs: Vec::new(), children: Vec::new() }
    }

    /// Builder: an attribute.
    #[must_use]
    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attrs.push((name.to_owned(), value.into()));
        self
    }

    /// Builder: a child element.
    #[must_use]
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: a child element holding only text.
    #[must_use]
    pub fn text_child(self, name: &str, text: impl Into<String>) -> Self {
        self.child(Element::new(name).with_text(text))
    }

    /// Builder: text content.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        if !text.is_empty() {
            self.children.push(Node::Text(text));
        }
        self
    }

    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// First child element with this local name.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn find_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    /// Concatenated text content, trimmed (depot writers pretty-print freely).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out.trim().to_owned()
    }

    /// Text of the first child element with this name, if present.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.find(name).map(Element::text)
    }

    /// Serialise compactly, without an XML declaration, as VMware's tools do.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::new(Vec::new());
        write_element(&mut writer, self);
        writer.into_inner()
    }

    /// Serialise with two-space indentation (for `vmware.xml`, as esximage writes it).
    pub fn to_bytes_pretty(&self) -> Vec<u8> {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        write_element(&mut writer, self);
        writer.into_inner()
    }
}

fn write_element(writer: &mut Writer<Vec<u8>>, el: &Element) {
    // Writing into a Vec cannot fail; the results are io::Result only by signature.
    let mut start = BytesStart::new(el.name.as_str());
    for (k, v) in &el.attrs {
        start.push_attribute((k.as_str(), v.as_str()));
    }
    if el.children.is_empty() {
        let _ = writer.write_event(Event::Empty(start));
        return;
    }
    let _ = writer.write_event(Event::Start(start.borrow()));
    for child in &el.children {
        match child {
            Node::Element(e) => write_element(writer, e),
            Node::Text(t) => {
                let _ = writer.write_event(Event::Text(BytesText::new(t)));
            }
            Node::Comment(c) => {
                let _ = writer.write_event(Event::Comment(BytesText::from_escaped(c.as_str())));
            }
        }
    }
    let _ = writer.write_event(Event::End(start.to_end()));
}

/// Parse one XML document into its root element.
pub fn parse(bytes: &[u8], limits: XmlLimits) -> Result<Element, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge { size: bytes.len(), limit: limits.max_bytes });
    }
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let mut buf = Vec::new();
    loop {
        let position = reader.buffer_position();
        let malformed = |message: String| XmlError::Malformed { position, message };
        let event = reader.read_event_into(&mut buf).map_err(|e| malformed(e.to_string()))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(XmlError::TrailingContent { position });
            }
            Event::Start(start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements { limit: limits.max_elements });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep { limit: limits.max_depth, position });
                }
                stack.push(start_element(&start).map_err(malformed)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements { limit: limits.max_elements });
                }
                let el = start_element(&start).map_err(malformed)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(malformed("closing tag without an open element".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::Text(text) => {
                // Entity references arrive as separate `GeneralRef` events.
                push_text(&mut stack, &text.xml10_content(), root.is_some(), position)?;
            }
            Event::GeneralRef(reference) => {
                let name = reference.xml10_content();
                let resolved =
                    resolve_reference(&name).ok_or_else(|| malformed(format!("unknown entity '&{name};'")))?;
                push_text(&mut stack, &resolved, root.is_some(), position)?;
            }
            Event::CData(data) => {
                let text = data.xml10_content();
                push_text(&mut stack, &text, root.is_some(), position)?;
            }
            Event::Comment(c) => {
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Comment(c.xml10_content().into_owned()));
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed {
            position: reader.buffer_position(),
            message: format!("document ends inside <{}>", stack.last().map_or("", |e| e.name.as_str())),
        });
    }
    root.ok_or(XmlError::Empty)
}

fn push_text(stack: &mut [Element], text: &str, after_root: bool, position: u64) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            // Merge adjacent text (entity references split text into several events).
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_owned()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None if after_root => Err(XmlError::TrailingContent { position }),
        None => Err(XmlError::Malformed { position, message: "text outside the root element".into() }),
    }
}

fn resolve_reference(name: &str) -> Option<String> {
    let predefined = match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => "",
    };
    if !predefined.is_empty() {
        return Some(predefined.to_owned());
    }
    let code = if let Some(hex) = name.strip_prefix("#x") {
        u32::from_str_radix(hex, 16).ok()?
    } else {
        name.strip_prefix('#')?.parse().ok()?
    };
    char::from_u32(code).map(String::from)
}

fn start_element(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = start.local_name().as_ref().to_owned();
    let mut el = Element::new(name);
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        let key = attr.key.local_name().as_ref().to_owned();
        let value = attr.normalized_value(XmlVersion::Implicit1_0).map_err(|e| e.to_string())?.into_owned();
        el.attrs.push((key, value));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_attributes_text_comments_and_empty_forms() {
        let doc = br#"<a x="1"><b>hi &amp; &#x41;</b><c/><d /><e></e><!-- note --></a>"#;
        let root = parse(doc, XmlLimits::default()).unwrap();
        assert_eq!(root.get_attr("x"), Some("1"));
        assert_eq!(root.child_text("b").as_deref(), Some("hi & A"));
        assert!(root.find("c").is_some() && root.find("d").is_some() && root.find("e").is_some());
        assert!(root.children.iter().any(|n| matches!(n, Node::Comment(c) if c.trim() == "note")));
    }

    #[test]
    fn round_trips_through_bytes() {
        let doc = br#"<vib version="5.0"><name>a&lt;b</name><urls/><x k="&quot;"/></vib>"#;
        let root = parse(doc, XmlLimits::default()).unwrap();
        let again = parse(&root.to_bytes(), XmlLimits::default()).unwrap();
        assert_eq!(root, again);
        let pretty = parse(&root.to_bytes_pretty(), XmlLimits::default()).unwrap();
        assert_eq!(pretty.child_text("name").as_deref(), Some("a<b"));
    }

    #[test]
    fn enforces_limits() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        let limits = XmlLimits { max_depth: 10, ..XmlLimits::default() };
        assert!(matches!(parse(deep.as_bytes(), limits), Err(XmlError::TooDeep { limit: 10, .. })));
        let limits = XmlLimits { max_bytes: 4, ..XmlLimits::default() };
        assert_eq!(parse(b"<abc/>", limits), Err(XmlError::TooLarge { size: 6, limit: 4 }));
        let many = format!("<a>{}</a>", "<b/>".repeat(50));
        let limits = XmlLimits { max_elements: 20, ..XmlLimits::default() };
        assert_eq!(parse(many.as_bytes(), limits), Err(XmlError::TooManyElements { limit: 20 }));
    }

    #[test]
    fn rejects_broken_documents() {
        for (doc, want) in [
            (&b""[..], "no root element"),
            (b"<a><b></a>", "malformed XML"),
            (b"<a>", "ends inside <a>"),
            (b"<a/><b/>", "content after the root"),
            (b"<a>&bogus;</a>", "unknown entity"),
        ] {
            let err = parse(doc, XmlLimits::default()).unwrap_err().to_string();
            assert!(err.contains(want), "{doc:?}: {err}");
        }
    }
}
