//! Core's failure messages made readable: the Rust debug dumps core embeds (a whole
//! `Failure { … }` or `HistoryEvent { … }`, kilobytes long) replaced by what a person
//! reads. The raw text stays in the report's `raw` (shown with `-v`).

/// The text around the first `message: "…"` in a Rust debug dump (core's failure
/// messages), with the dump replaced by that string: `Workflow activation completion
/// failed: Failure { failure: Some(Failure { message: "boom", … }) } (eviction reason X)`
/// → `Workflow activation completion failed: boom (eviction reason X)`. `None` when `s`
/// holds no such dump.
pub fn rust_debug_message(s: &str) -> Option<String> {
    let dump = s.find("Failure {")?;
    let start = s[dump..].find("message: \"")? + dump + "message: \"".len();
    let mut msg = String::new();
    let mut chars = s[start..].char_indices();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                end = Some(start + i + 1);
                break;
            }
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => msg.push('\n'),
                Some('t') => msg.push('\t'),
                Some('r') => msg.push('\r'),
                Some('0') => msg.push('\0'),
                Some(c) => msg.push(c),
                None => {}
            },
            c => msg.push(c),
        }
    }
    end?;
    // The dump closes with as many braces/parens as it opened (outside its string
    // literals); keep what follows it.
    let tail_start = balanced_len(&s[dump..]).map_or(s.len(), |len| dump + len);
    Some(format!("{}{msg}{}", &s[..dump], &s[tail_start..]))
}

/// Core's messages sometimes embed a whole event as a Rust debug dump
/// (`HistoryEvent { event_id: 25, event_time: …, event_type: ActivityTaskCompleted, … }`,
/// kilobytes long); shown as core's own short form, `HistoryEvent(id: 25, ActivityTaskCompleted)`.
pub fn shorten_event_dumps(s: &str) -> std::borrow::Cow<'_, str> {
    const HEAD: &str = "HistoryEvent { event_id: ";
    if !s.contains(HEAD) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(HEAD) {
        out.push_str(&rest[..at]);
        let dump = &rest[at..];
        let Some(len) = balanced_len(dump) else {
            out.push_str(dump);
            rest = "";
            break;
        };
        let body = &dump[..len];
        let id: String = body[HEAD.len()..].chars().take_while(char::is_ascii_digit).collect();
        let ty = body.split_once("event_type: ").map(|(_, t)| t.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>());
        match ty {
            Some(ty) if !ty.is_empty() => out.push_str(&format!("HistoryEvent(id: {id}, {ty})")),
            _ => out.push_str(&format!("HistoryEvent(id: {id})")),
        }
        rest = &dump[len..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Length of the brace-balanced prefix of `s` (which starts a `Name { … }` dump), string
/// literals skipped; `None` when it never closes.
fn balanced_len(s: &str) -> Option<usize> {
    let (mut depth, mut in_str, mut escaped) = (0i32, false, false);
    for (i, c) in s.char_indices() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::rust_debug_message;

    #[test]
    fn core_debug_dumps_become_their_message() {
        let dump = r#"Workflow activation completion failed: Failure { failure: Some(Failure { message: "Workflow type 'X' is \"odd\" {(", source: "", stack_trace: "", encoded_attributes: None, cause: None, failure_info: Some(ApplicationFailureInfo(ApplicationFailureInfo { r#type: "", non_retryable: false })) }), force_cause: Unspecified } (eviction reason Fatal)"#;
        assert_eq!(rust_debug_message(dump).as_deref(), Some(r#"Workflow activation completion failed: Workflow type 'X' is "odd" {( (eviction reason Fatal)"#));
        assert_eq!(rust_debug_message("plain message"), None);
    }

    #[test]
    fn event_dumps_are_shortened() {
        let m = r#"[TMPRL1100] could not find a matching command for it: HistoryEvent { event_id: 25, event_time: Some(Timestamp { seconds: 1, nanos: 2 }), event_type: ActivityTaskCompleted, links: [], attributes: Some(X { result: "}{", n: 1 }) } and more"#;
        assert_eq!(super::shorten_event_dumps(m), "[TMPRL1100] could not find a matching command for it: HistoryEvent(id: 25, ActivityTaskCompleted) and more");
        assert_eq!(super::shorten_event_dumps("HistoryEvent(id: 3, TimerStarted)"), "HistoryEvent(id: 3, TimerStarted)");
    }
}
