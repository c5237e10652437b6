//! Turns an oslo.policy rule string such as `role:admin or (role:member and
//! project_id:%(project_id)s)` into an [`Expr`]. Rules are parsed once, when a policy is loaded,
//! and any syntax error is reported then (naming the rule and the position), so a bad policy
//! file stops start-up instead of silently denying or allowing at request time.
//!
//! Grammar (keywords in any case, precedence `not` > `and` > `or`):
//!
//! ```text
//! rule   := <empty> | or
//! or     := and ("or" and)*
//! and    := not ("and" not)*
//! not    := "not" not | atom
//! atom   := "(" or ")" | "@" | "!" | check
//! check  := LEFT ":" RIGHT
//! ```

use super::ast::{Check, CredentialAttr, Expr, FieldValue, Key, Part, Subject, Template};
use super::PolicyError;

/// Deepest nesting of parentheses and `not` accepted; keeps hostile input from exhausting the
/// stack of the parser or the evaluator.
const MAX_NESTING: usize = 64;

/// Parses the rule string `text` of the rule called `rule_name`.
pub(crate) fn parse_rule(rule_name: &str, text: &str) -> Result<Expr, PolicyError> {
    let tokens = tokenize(rule_name, text)?;
    if tokens.is_empty() {
        return Ok(Expr::Allow);
    }
    let mut parser = Parser {
        rule: rule_name,
        text,
        tokens,
        next: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    if let Some(token) = parser.peek() {
        return Err(parser.error_at(
            token.pos,
            format!(
                "expected 'and', 'or' or the end of the rule, found {}",
                token.describe()
            ),
        ));
    }
    Ok(expr)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind<'a> {
    Open,
    Close,
    And,
    Or,
    Not,
    /// `@`, `!` or a check.
    Word(&'a str),
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind<'a>,
    /// Byte offset in the rule string.
    pos: usize,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match self.kind {
            Kind::Open => "'('".to_string(),
            Kind::Close => "')'".to_string(),
            Kind::And => "'and'".to_string(),
            Kind::Or => "'or'".to_string(),
            Kind::Not => "'not'".to_string(),
            Kind::Word(word) => format!("'{word}'"),
        }
    }
}

fn parse_error(rule: &str, text: &str, pos: usize, message: impl std::fmt::Display) -> PolicyError {
    let column = text.get(..pos).map_or(pos, |before| before.chars().count());
    PolicyError::Parse {
        rule: rule.to_string(),
        message: format!("at position {column}: {message}"),
    }
}

fn is_quote(c: char) -> bool {
    c == '\'' || c == '"'
}

/// Splits a rule string into parentheses, keywords and words. A word runs to the next
/// whitespace or parenthesis, except that `%(KEY)s` substitutions and quoted literals (opened at
/// the start of the word or right after its first `:`) are kept whole.
fn tokenize<'a>(rule: &str, text: &'a str) -> Result<Vec<Token<'a>>, PolicyError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '(' || c == ')' {
            chars.next();
            let kind = if c == '(' { Kind::Open } else { Kind::Close };
            tokens.push(Token { kind, pos: start });
            continue;
        }
        let mut end = start;
        let mut first_colon: Option<usize> = None;
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() || c == '(' || c == ')' {
                break;
            }
            chars.next();
            end = i + c.len_utf8();
            let opens_quote =
                is_quote(c) && (i == start || first_colon.is_some_and(|colon| colon + 1 == i));
            if opens_quote {
                let close = text[end..]
                    .find(c)
                    .ok_or_else(|| parse_error(rule, text, i, format!("unterminated quote {c}")))?;
                end += close + 1;
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            } else if c == '%' && chars.peek().is_some_and(|&(_, next)| next == '(') {
                let close = text[end..]
                    .find(')')
                    .ok_or_else(|| parse_error(rule, text, i, "unterminated '%(' substitution"))?;
                end += close + 1;
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            } else if c == ':' && first_colon.is_none() {
                first_colon = Some(i);
            }
        }
        let word = &text[start..end];
        let kind = if word.eq_ignore_ascii_case("and") {
            Kind::And
        } else if word.eq_ignore_ascii_case("or") {
            Kind::Or
        } else if word.eq_ignore_ascii_case("not") {
            Kind::Not
        } else {
            Kind::Word(word)
        };
        tokens.push(Token { kind, pos: start });
    }
    Ok(tokens)
}

struct Parser<'a> {
    rule: &'a str,
    text: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).copied()
    }

    fn advance(&mut self) -> Option<Token<'a>> {
        let token = self.peek();
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    fn error_at(&self, pos: usize, message: impl std::fmt::Display) -> PolicyError {
        parse_error(self.rule, self.text, pos, message)
    }

    fn nest(&mut self, pos: usize) -> Result<(), PolicyError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error_at(pos, format!("nested more than {MAX_NESTING} levels deep")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, PolicyError> {
        let first = self.and()?;
        let mut operands = vec![first];
        while self.peek().is_some_and(|t| t.kind == Kind::Or) {
            self.advance();
            operands.push(self.and()?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Expr::Or(operands)
        })
    }

    fn and(&mut self) -> Result<Expr, PolicyError> {
        let first = self.not()?;
        let mut operands = vec![first];
        while self.peek().is_some_and(|t| t.kind == Kind::And) {
            self.advance();
            operands.push(self.not()?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Expr::And(operands)
        })
    }

    fn not(&mut self) -> Result<Expr, PolicyError> {
        match self.peek() {
            Some(token) if token.kind == Kind::Not => {
                self.advance();
                self.nest(token.pos)?;
                let inner = self.not()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<Expr, PolicyError> {
        const EXPECTED: &str = "expected a check (such as role:NAME), '@', '!', 'not' or '('";
        let Some(token) = self.advance() else {
            return Err(self.error_at(
                self.text.len(),
                format!("{EXPECTED}, found the end of the rule"),
            ));
        };
        match token.kind {
            Kind::Open => {
                self.nest(token.pos)?;
                let inner = self.or()?;
                match self.advance() {
                    Some(t) if t.kind == Kind::Close => {}
                    Some(t) => {
                        return Err(self.error_at(
                            t.pos,
                            format!("expected ')' or an operator, found {}", t.describe()),
                        ))
                    }
                    None => {
                        return Err(self.error_at(
                            self.text.len(),
                            format!(
                                "expected ')' to close the '(' at position {}, found the end of the rule",
                                self.text[..token.pos].chars().count()
                            ),
                        ))
                    }
                }
                self.depth -= 1;
                Ok(inner)
            }
            Kind::Word("@") => Ok(Expr::Allow),
            Kind::Word("!") => Ok(Expr::Deny),
            Kind::Word(word) => self.check(word, token.pos).map(Expr::Check),
            _ => Err(self.error_at(token.pos, format!("{EXPECTED}, found {}", token.describe()))),
        }
    }

    fn check(&self, word: &str, pos: usize) -> Result<Check, PolicyError> {
        let (left, right) = if let Some(quote) = word.chars().next().filter(|&c| is_quote(c)) {
            // The tokenizer has checked that the quote is closed.
            let close = word[1..].find(quote).map_or(word.len(), |i| i + 1);
            let literal = &word[1..close];
            let Some(right) = word
                .get(close + 1..)
                .and_then(|rest| rest.strip_prefix(':'))
            else {
                return Err(self.error_at(
                    pos,
                    format!("expected ':' after the quoted literal in '{word}'"),
                ));
            };
            (Subject::Literal(literal.to_string()), right)
        } else {
            let Some((left, right)) = word.split_once(':') else {
                return Err(self.error_at(
                    pos,
                    format!("unknown token '{word}': expected a check LEFT:RIGHT, '@', '!', 'and', 'or', 'not' or a parenthesis"),
                ));
            };
            if left.is_empty() {
                return Err(self.error_at(pos, format!("'{word}' has nothing before ':'")));
            }
            match left {
                "role" | "rule" | "field" => {
                    if right.is_empty() {
                        return Err(self.error_at(pos, format!("'{word}' has nothing after ':'")));
                    }
                    return match left {
                        "role" => Ok(Check::Role(self.template(right, pos)?)),
                        "rule" => Ok(Check::Rule {
                            name: right.to_string(),
                            index: None,
                        }),
                        _ => self.field(word, right, pos),
                    };
                }
                _ => {}
            }
            let subject = CredentialAttr::from_name(left)
                .map_or_else(|| Subject::Unknown(left.to_string()), Subject::Credential);
            (subject, right)
        };
        if right.is_empty() {
            return Err(self.error_at(pos, format!("'{word}' has nothing after ':'")));
        }
        Ok(Check::Generic {
            left,
            right: self.template(right, pos)?,
        })
    }

    /// `RESOURCE:FIELD=VALUE` of a `field:` check.
    fn field(&self, word: &str, spec: &str, pos: usize) -> Result<Check, PolicyError> {
        let parsed = spec.split_once(':').and_then(|(resource, rest)| {
            let (field, value) = rest.split_once('=')?;
            (!resource.is_empty() && !field.is_empty()).then_some((resource, field, value))
        });
        let Some((resource, field, value)) = parsed else {
            return Err(self.error_at(
                pos,
                format!("'{word}' is not of the form field:RESOURCE:FIELD=VALUE"),
            ));
        };
        let expected = if value.eq_ignore_ascii_case("true") {
            FieldValue::Bool(true)
        } else if value.eq_ignore_ascii_case("false") {
            FieldValue::Bool(false)
        } else {
            FieldValue::Text(value.to_string())
        };
        Ok(Check::Field {
            resource: resource.to_string(),
            field: field.to_string(),
            expected,
        })
    }

    /// A right-hand side: a quoted literal, or text with `%(KEY)s` substitutions (`%%` is a
    /// literal `%`).
    fn template(&self, right: &str, pos: usize) -> Result<Template, PolicyError> {
        if let Some(quote) = right.chars().next().filter(|&c| is_quote(c)) {
            if right.len() >= 2 && right.ends_with(quote) {
                return Ok(Template::literal(&right[1..right.len() - 1]));
            }
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = right;
        while let Some(percent) = rest.find('%') {
            text.push_str(&rest[..percent]);
            let after = &rest[percent + 1..];
            if let Some(escaped) = after.strip_prefix('%') {
                text.push('%');
                rest = escaped;
            } else if let Some(open) = after.strip_prefix('(') {
                let Some(close) = open.find(')') else {
                    return Err(
                        self.error_at(pos, format!("unterminated '%(' substitution in '{right}'"))
                    );
                };
                let key = &open[..close];
                if key.is_empty() {
                    return Err(
                        self.error_at(pos, format!("empty substitution '%()s' in '{right}'"))
                    );
                }
                let Some(tail) = open[close + 1..].strip_prefix('s') else {
                    return Err(self.error_at(
                        pos,
                        format!("substitution '%({key})' must end with ')s' in '{right}'"),
                    ));
                };
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Key(Key::new(key)));
                rest = tail;
            } else {
                text.push('%');
                rest = after;
            }
        }
        text.push_str(rest);
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact rendering of the tree, for asserting structure.
    fn show(expr: &Expr) -> String {
        fn template(t: &Template) -> String {
            t.parts
                .iter()
                .map(|p| match p {
                    Part::Text(s) => s.clone(),
                    Part::Key(k) => format!("{{{}}}", k.raw),
                })
                .collect()
        }
        fn list(op: &str, items: &[Expr]) -> String {
            let inner: Vec<String> = items.iter().map(show).collect();
            format!("({op} {})", inner.join(" "))
        }
        match expr {
            Expr::Allow => "@".into(),
            Expr::Deny => "!".into(),
            Expr::Not(inner) => format!("(not {})", show(inner)),
            Expr::And(items) => list("and", items),
            Expr::Or(items) => list("or", items),
            Expr::Check(Check::Role(t)) => format!("role:{}", template(t)),
            Expr::Check(Check::Rule { name, .. }) => format!("rule:{name}"),
            Expr::Check(Check::Field {
                resource,
                field,
                expected,
            }) => format!("field:{resource}:{field}={expected:?}"),
            Expr::Check(Check::Generic { left, right }) => {
                let left = match left {
                    Subject::Literal(s) => format!("'{s}'"),
                    Subject::Credential(c) => format!("{c:?}"),
                    Subject::Unknown(s) => format!("?{s}"),
                };
                format!("{left}:{}", template(right))
            }
        }
    }

    fn parsed(text: &str) -> String {
        show(&parse_rule("r", text).unwrap_or_else(|e| panic!("{text:?}: {e}")))
    }

    fn parse_err(text: &str) -> String {
        match parse_rule("my_rule", text) {
            Err(PolicyError::Parse { rule, message }) => {
                assert_eq!(rule, "my_rule");
                message
            }
            other => panic!("{text:?} should not parse, got {other:?}"),
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            parsed("role:a or role:b and role:c"),
            "(or role:a (and role:b role:c))"
        );
        assert_eq!(
            parsed("role:a and role:b or role:c"),
            "(or (and role:a role:b) role:c)"
        );
        assert_eq!(
            parsed("role:a and role:b and role:c or role:d or role:e"),
            "(or (and role:a role:b role:c) role:d role:e)"
        );
    }

    #[test]
    fn parentheses_group() {
        assert_eq!(
            parsed("(role:a or role:b) and role:c"),
            "(and (or role:a role:b) role:c)"
        );
        assert_eq!(parsed("((role:a))"), "role:a");
        assert_eq!(
            parsed("role:a and(role:b or role:c)"),
            "(and role:a (or role:b role:c))"
        );
    }

    #[test]
    fn not_binds_tightest() {
        assert_eq!(parsed("not role:a and role:b"), "(and (not role:a) role:b)");
        assert_eq!(
            parsed("not (role:a and role:b)"),
            "(not (and role:a role:b))"
        );
        assert_eq!(parsed("not not role:a"), "(not (not role:a))");
    }

    #[test]
    fn constants_and_empty() {
        assert_eq!(parsed("@"), "@");
        assert_eq!(parsed("!"), "!");
        assert_eq!(parsed(""), "@");
        assert_eq!(parsed("  \t "), "@");
        assert_eq!(parsed("@ and not !"), "(and @ (not !))");
    }

    #[test]
    fn keywords_in_any_case() {
        assert_eq!(
            parsed("role:a OR role:b AnD NOT role:c"),
            "(or role:a (and role:b (not role:c)))"
        );
    }

    #[test]
    fn check_kinds() {
        assert_eq!(parsed("rule:admin_only"), "rule:admin_only");
        assert_eq!(
            parsed("field:networks:shared=True"),
            "field:networks:shared=Bool(true)"
        );
        assert_eq!(
            parsed("field:networks:shared=fAlSe"),
            "field:networks:shared=Bool(false)"
        );
        assert_eq!(
            parsed("field:ports:name=a=b"),
            "field:ports:name=Text(\"a=b\")"
        );
        assert_eq!(
            parsed("project_id:%(project_id)s"),
            "ProjectId:{project_id}"
        );
        assert_eq!(parsed("tenant_id:%(tenant_id)s"), "ProjectId:{tenant_id}");
        assert_eq!(
            parsed("project_id:%(network:project_id)s"),
            "ProjectId:{network:project_id}"
        );
        assert_eq!(parsed("roles:x"), "Roles:x");
        assert_eq!(parsed("color:blue"), "?color:blue");
        assert_eq!(parsed("user_id:a%(x)s-%(y)s%%"), "UserId:a{x}-{y}%");
        assert_eq!(parsed("http://example.com"), "?http://example.com");
    }

    #[test]
    fn quoted_literals() {
        assert_eq!(parsed("'member':%(role.name)s"), "'member':{role.name}");
        assert_eq!(parsed("\"member\":%(role.name)s"), "'member':{role.name}");
        assert_eq!(parsed("'a b (c)':x"), "'a b (c)':x");
        assert_eq!(parsed("'a:b':c"), "'a:b':c");
        assert_eq!(parsed("user_id:'%(not_a_key)s'"), "UserId:%(not_a_key)s");
        assert_eq!(
            parsed("role:'my role' or role:b"),
            "(or role:my role role:b)"
        );
    }

    #[test]
    fn substitution_keeps_parentheses_inside_the_check() {
        assert_eq!(
            parsed("(project_id:%(project_id)s)"),
            "ProjectId:{project_id}"
        );
    }

    #[test]
    fn syntax_errors_name_the_rule() {
        for bad in [
            "role:",
            "(role:a",
            "role:a and",
            "and",
            "or role:a",
            "not",
            "role:a)",
            "()",
            "role:a role:b",
            "admin",
            "role:a && role:b",
            ":x",
            "project_id:",
            "'member'",
            "'member",
            "'a'b:c",
            "user_id:%(x",
            "user_id:%(x)",
            "user_id:%()s",
            "field:networks",
            "field:networks:shared",
            "field::shared=True",
            "rule:",
        ] {
            let message = parse_err(bad);
            assert!(message.contains("position"), "{bad:?}: {message}");
        }
    }

    #[test]
    fn errors_say_where_and_what() {
        let message = parse_err("role:a and");
        assert!(message.contains("position 10"), "{message}");
        assert!(message.contains("end of the rule"), "{message}");
        let message = parse_err("role:a && role:b");
        assert!(message.contains("position 7"), "{message}");
        assert!(message.contains("'&&'"), "{message}");
        let message = parse_err("(role:a");
        assert!(message.contains("')'"), "{message}");
        let message = parse_err("and");
        assert!(message.contains("'and'"), "{message}");
        let error = parse_rule("get_trunk", "role:").expect_err("must fail");
        assert!(error.to_string().contains("get_trunk"), "{error}");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}role:a{}", "(".repeat(1000), ")".repeat(1000));
        assert!(parse_err(&deep).contains("nested"));
        let nots = format!("{}role:a", "not ".repeat(1000));
        assert!(parse_err(&nots).contains("nested"));
        let fine = format!("{}role:a{}", "(".repeat(20), ")".repeat(20));
        assert_eq!(parsed(&fine), "role:a");
    }

    mod fuzz {
        use super::super::parse_rule;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_text(text in ".*") {
                let _ = parse_rule("fuzz", &text);
            }

            #[test]
            fn never_panics_on_rule_like_text(
                words in proptest::collection::vec(
                    prop_oneof![
                        Just("("), Just(")"), Just("and"), Just("OR"), Just("not"), Just("@"),
                        Just("!"), Just("role:a"), Just("rule:x"), Just("'q"), Just("\""),
                        Just("%("), Just(")s"), Just(":"), Just("field:n:s=True"), Just("'l':"),
                        Just("project_id:%(project_id)s"), Just("é"), Just(" "), Just("%"),
                    ],
                    0..24,
                ),
            ) {
                let text = words.concat();
                let _ = parse_rule("fuzz", &text);
                let spaced = words.join(" ");
                let _ = parse_rule("fuzz", &spaced);
            }
        }
    }
}
