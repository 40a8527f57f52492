//! The actions a flow is made of, and the checks every action list passes before it is stored.
//!
//! An action is `{"id", "next_id"?, "type", "option"}`. Execution starts at the first action
//! and goes on to `next_id` when it is set, else to the following action. `goto` and `branch`
//! jump to other actions by id. Ids are UUIDs, generated when a request leaves them out.
//!
//! The source documents name the action types (answer, talk, play, digits_receive, queue_join,
//! conference_join, connect, recording, transcription, webhooks…) without listing their
//! options; the options here follow the source platform's public action reference. Every type
//! checks its options strictly: an unknown option, a missing required one, a value of the
//! wrong JSON type or out of range, a jump to an id no action of the flow has — each is
//! `400 invalid_argument` whose `field` is the path of the offending value, e.g.
//! `actions[2].option.duration`. Options are stored as sent: defaults (noted per option in
//! [`ACTIONS`]) are the flow engine's to apply when it runs the action.

use super::columns::host_name;
use crate::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;
use uuid::Uuid;

/// Most actions one flow may hold.
pub const MAX_ACTIONS: usize = 1000;

/// One stored action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Action {
    pub id: Uuid,
    /// The action that runs after this one; default: the next in the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_id: Option<Uuid>,
    /// One of the action types (answer, talk, play, digits_receive, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The options of the type.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub option: Map<String, Value>,
}

/// An action in a create or update request: as [`Action`], with `id` optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActionRequest {
    /// Generated when absent; must be unique within the flow.
    pub id: Option<Uuid>,
    /// Must be the id of an action of the same flow.
    pub next_id: Option<Uuid>,
    /// answer, talk, play, digits_receive, digits_send, hangup, goto, branch, sleep,
    /// recording_start, recording_stop, queue_join, conference_join, connect, webhook_send,
    /// variable_set, transcribe_start, transcribe_stop, fetch or stop.
    #[serde(rename = "type")]
    pub kind: String,
    /// The options of the type; see the API description of flows.
    #[schema(value_type = Object)]
    pub option: Option<Map<String, Value>>,
}

/// What an option's value must be.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A string of `min..=max` characters.
    Text {
        min: usize,
        max: usize,
    },
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// An integer in `min..=max`, in `unit`.
    Int {
        min: i64,
        max: i64,
        unit: &'static str,
    },
    Bool,
    Uuid,
    /// The id of an action of the same flow.
    Target,
    /// An object mapping a value (e.g. pressed digits) to the id of an action of the flow.
    TargetMap,
    /// An http or https URL.
    Url,
    /// 1 to `max` http or https URLs.
    Urls {
        max: usize,
    },
    /// 1 to `max` DTMF characters: 0-9 * # A-D.
    Dtmf {
        max: usize,
    },
    /// A language tag such as `en-US`.
    Language,
    /// A variable name: 1-255 of letters, digits and `. _ -`.
    Variable,
    /// An address `{"type": tel|sip|extension|agent, "target", "name"?}`.
    Address,
    /// 1 to `max` addresses.
    Addresses {
        max: usize,
    },
}

/// One option of an action type.
#[derive(Debug, Clone, Copy)]
struct Opt {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn required(name: &'static str, kind: Kind) -> Opt {
    Opt {
        name,
        kind,
        required: true,
    }
}

const fn optional(name: &'static str, kind: Kind) -> Opt {
    Opt {
        name,
        kind,
        required: false,
    }
}

/// An action type and its options.
#[derive(Debug)]
pub struct ActionType {
    pub name: &'static str,
    options: &'static [Opt],
}

impl ActionType {
    /// The names of the options the type takes.
    pub fn option_names(&self) -> impl Iterator<Item = &'static str> {
        self.options.iter().map(|o| o.name)
    }

    /// The names of the options, required ones marked with `*`.
    pub fn option_names_marked(&self) -> impl Iterator<Item = String> {
        self.options.iter().map(|o| {
            if o.required {
                format!("{}*", o.name)
            } else {
                o.name.to_owned()
            }
        })
    }
}

const MILLISECONDS: &str = "ms";
const METHODS: &[&str] = &["POST", "GET", "PUT", "DELETE"];

/// Every action type a flow may use.
pub static ACTIONS: &[ActionType] = &[
    // Answers an incoming call.
    ActionType {
        name: "answer",
        options: &[],
    },
    // Speaks `text` (TTS); language default en-US, gender default female.
    ActionType {
        name: "talk",
        options: &[
            required("text", Kind::Text { min: 1, max: 5000 }),
            optional("language", Kind::Language),
            optional("gender", Kind::OneOf(&["male", "female", "neutral"])),
        ],
    },
    // Plays the audio at each URL in turn.
    ActionType {
        name: "play",
        options: &[required("stream_urls", Kind::Urls { max: 20 })],
    },
    // Collects DTMF digits into the call's variables: stops after `duration` ms, `length`
    // digits or one of the `key` digits, whichever comes first.
    ActionType {
        name: "digits_receive",
        options: &[
            required(
                "duration",
                Kind::Int {
                    min: 1,
                    max: 300_000,
                    unit: MILLISECONDS,
                },
            ),
            optional(
                "length",
                Kind::Int {
                    min: 1,
                    max: 128,
                    unit: "digits",
                },
            ),
            optional("key", Kind::Dtmf { max: 16 }),
        ],
    },
    // Sends DTMF digits: each tone `duration` ms (default 250), `interval` ms apart (default 250).
    ActionType {
        name: "digits_send",
        options: &[
            required("digits", Kind::Dtmf { max: 100 }),
            optional(
                "duration",
                Kind::Int {
                    min: 50,
                    max: 2000,
                    unit: MILLISECONDS,
                },
            ),
            optional(
                "interval",
                Kind::Int {
                    min: 0,
                    max: 5000,
                    unit: MILLISECONDS,
                },
            ),
        ],
    },
    // Ends the call; reason default normal.
    ActionType {
        name: "hangup",
        options: &[optional(
            "reason",
            Kind::OneOf(&["normal", "busy", "noanswer", "cancel", "failed", "timeout"]),
        )],
    },
    // Jumps to `target_id`, at most `loop_count` times (default 3); then goes on.
    ActionType {
        name: "goto",
        options: &[
            required("target_id", Kind::Target),
            optional(
                "loop_count",
                Kind::Int {
                    min: 1,
                    max: 100,
                    unit: "times",
                },
            ),
        ],
    },
    // Jumps by the value of `variable` (default: the digits last received): to
    // `target_ids[value]`, else to `default_target_id`, else goes on.
    ActionType {
        name: "branch",
        options: &[
            optional("variable", Kind::Variable),
            optional("default_target_id", Kind::Target),
            required("target_ids", Kind::TargetMap),
        ],
    },
    // Waits.
    ActionType {
        name: "sleep",
        options: &[required(
            "duration",
            Kind::Int {
                min: 1,
                max: 300_000,
                unit: MILLISECONDS,
            },
        )],
    },
    // Records the call into a recording (format wav): until recording_stop, the call ends,
    // `duration` ms, `end_of_silence` ms of silence or an `end_of_key` digit.
    ActionType {
        name: "recording_start",
        options: &[
            optional("format", Kind::OneOf(&["wav"])),
            optional(
                "duration",
                Kind::Int {
                    min: 1,
                    max: 14_400_000,
                    unit: MILLISECONDS,
                },
            ),
            optional(
                "end_of_silence",
                Kind::Int {
                    min: 0,
                    max: 300_000,
                    unit: MILLISECONDS,
                },
            ),
            optional("end_of_key", Kind::Dtmf { max: 16 }),
            optional("beep_start", Kind::Bool),
        ],
    },
    ActionType {
        name: "recording_stop",
        options: &[],
    },
    ActionType {
        name: "queue_join",
        options: &[required("queue_id", Kind::Uuid)],
    },
    ActionType {
        name: "conference_join",
        options: &[required("conference_id", Kind::Uuid)],
    },
    // Calls the destinations from `source` and bridges the first to answer with this call.
    ActionType {
        name: "connect",
        options: &[
            optional("source", Kind::Address),
            required("destinations", Kind::Addresses { max: 32 }),
            optional("early_media", Kind::Bool),
            optional("relay_reason", Kind::Bool),
        ],
    },
    // Sends `data` to `uri` (method default POST, data_type default application/json);
    // with `sync` the flow waits for the answer.
    ActionType {
        name: "webhook_send",
        options: &[
            required("uri", Kind::Url),
            optional("method", Kind::OneOf(METHODS)),
            optional(
                "data_type",
                Kind::OneOf(&["application/json", "text/plain"]),
            ),
            optional(
                "data",
                Kind::Text {
                    min: 0,
                    max: 65_536,
                },
            ),
            optional("sync", Kind::Bool),
        ],
    },
    ActionType {
        name: "variable_set",
        options: &[
            required("key", Kind::Variable),
            required("value", Kind::Text { min: 0, max: 4096 }),
        ],
    },
    ActionType {
        name: "transcribe_start",
        options: &[required("language", Kind::Language)],
    },
    ActionType {
        name: "transcribe_stop",
        options: &[],
    },
    // Asks `event_url` for the actions to run next (method default POST).
    ActionType {
        name: "fetch",
        options: &[
            required("event_url", Kind::Url),
            optional("event_method", Kind::OneOf(METHODS)),
        ],
    },
    // Ends the flow (the call stays up).
    ActionType {
        name: "stop",
        options: &[],
    },
];

fn action_type(name: &str) -> Option<&'static ActionType> {
    ACTIONS.iter().find(|action| action.name == name)
}

fn type_names() -> String {
    ACTIONS
        .iter()
        .map(|action| action.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks an action list as sent (`actions` of a create or update request) and returns it
/// with every id set.
pub fn validate_actions(actions: &Value) -> Result<Vec<Action>, ApiError> {
    let list = actions
        .as_array()
        .ok_or_else(|| ApiError::invalid("actions", "must be an array of actions"))?;
    if list.is_empty() || list.len() > MAX_ACTIONS {
        return Err(ApiError::invalid(
            "actions",
            format!("must hold 1 to {MAX_ACTIONS} actions"),
        ));
    }
    // First the ids, so that a jump may point forwards.
    let mut ids = Vec::with_capacity(list.len());
    let mut seen = HashSet::with_capacity(list.len());
    for (index, action) in list.iter().enumerate() {
        let field = format!("actions[{index}]");
        let object = action
            .as_object()
            .ok_or_else(|| ApiError::invalid(&field, "must be an object"))?;
        let id = match object.get("id") {
            None | Some(Value::Null) => Uuid::new_v4(),
            Some(id) => uuid_value(&format!("{field}.id"), id)?,
        };
        if !seen.insert(id) {
            return Err(ApiError::invalid(
                &format!("{field}.id"),
                format!("{id} is the id of an earlier action"),
            ));
        }
        ids.push(id);
    }
    list.iter()
        .zip(ids)
        .enumerate()
        .map(|(index, (action, id))| validate_action(index, action, id, &seen))
        .collect()
}

fn validate_action(
    index: usize,
    action: &Value,
    id: Uuid,
    ids: &HashSet<Uuid>,
) -> Result<Action, ApiError> {
    let field = format!("actions[{index}]");
    let object = action
        .as_object()
        .ok_or_else(|| ApiError::invalid(&field, "must be an object"))?;
    if let Some(unknown) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "id" | "next_id" | "type" | "option"))
    {
        return Err(ApiError::invalid(
            &format!("{field}.{unknown}"),
            "is not a field of an action (id, next_id, type, option)",
        ));
    }
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(&format!("{field}.type"), "is required"));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                &format!("{field}.type"),
                "must be a string",
            ));
        }
    };
    let spec = action_type(kind).ok_or_else(|| {
        ApiError::invalid(
            &format!("{field}.type"),
            format!("{kind:?} is not an action type ({})", type_names()),
        )
    })?;
    let next_id = match object.get("next_id") {
        None | Some(Value::Null) => None,
        Some(next) => Some(target(&format!("{field}.next_id"), next, ids)?),
    };
    let option = match object.get("option") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(option)) => option.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                &format!("{field}.option"),
                "must be an object",
            ));
        }
    };
    validate_options(&format!("{field}.option"), spec, &option, ids)?;
    Ok(Action {
        id,
        next_id,
        kind: spec.name.to_owned(),
        option,
    })
}

fn validate_options(
    field: &str,
    spec: &ActionType,
    option: &Map<String, Value>,
    ids: &HashSet<Uuid>,
) -> Result<(), ApiError> {
    if let Some(unknown) = option
        .keys()
        .find(|key| !spec.options.iter().any(|o| o.name == key.as_str()))
    {
        let takes = if spec.options.is_empty() {
            "takes no options".to_owned()
        } else {
            format!(
                "takes {}",
                spec.option_names().collect::<Vec<_>>().join(", ")
            )
        };
        return Err(ApiError::invalid(
            &format!("{field}.{unknown}"),
            format!("is not an option of {} ({} {takes})", spec.name, spec.name),
        ));
    }
    for opt in spec.options {
        let path = format!("{field}.{}", opt.name);
        match option.get(opt.name) {
            None | Some(Value::Null) if opt.required => {
                return Err(ApiError::invalid(&path, "is required"));
            }
            None | Some(Value::Null) => {}
            Some(value) => check(&path, opt.kind, value, ids)?,
        }
    }
    Ok(())
}

fn check(field: &str, kind: Kind, value: &Value, ids: &HashSet<Uuid>) -> Result<(), ApiError> {
    match kind {
        Kind::Text { min, max } => {
            let text = string(field, value)?;
            let length = text.chars().count();
            if length < min || length > max {
                return Err(ApiError::invalid(
                    field,
                    format!("must be {min}-{max} characters"),
                ));
            }
        }
        Kind::OneOf(allowed) => {
            let text = string(field, value)?;
            if !allowed.contains(&text) {
                return Err(ApiError::invalid(
                    field,
                    format!("must be one of {}", allowed.join(", ")),
                ));
            }
        }
        Kind::Int { min, max, unit } => {
            let number = value
                .as_i64()
                .ok_or_else(|| ApiError::invalid(field, format!("must be an integer ({unit})")))?;
            if !(min..=max).contains(&number) {
                return Err(ApiError::invalid(
                    field,
                    format!("must be {min}-{max} {unit}"),
                ));
            }
        }
        Kind::Bool => {
            if !value.is_boolean() {
                return Err(ApiError::invalid(field, "must be true or false"));
            }
        }
        Kind::Uuid => {
            uuid_value(field, value)?;
        }
        Kind::Target => {
            target(field, value, ids)?;
        }
        Kind::TargetMap => {
            let map = value
                .as_object()
                .ok_or_else(|| ApiError::invalid(field, "must be an object of value: action id"))?;
            if map.is_empty() || map.len() > 100 {
                return Err(ApiError::invalid(field, "must map 1 to 100 values"));
            }
            for (key, id) in map {
                if key.is_empty() || key.chars().count() > 64 {
                    return Err(ApiError::invalid(
                        &format!("{field}.{key}"),
                        "the value must be 1-64 characters",
                    ));
                }
                target(&format!("{field}.{key}"), id, ids)?;
            }
        }
        Kind::Url => http_url(field, string(field, value)?)?,
        Kind::Urls { max } => {
            let urls = value
                .as_array()
                .ok_or_else(|| ApiError::invalid(field, "must be an array of URLs"))?;
            if urls.is_empty() || urls.len() > max {
                return Err(ApiError::invalid(
                    field,
                    format!("must list 1 to {max} URLs"),
                ));
            }
            for (index, url) in urls.iter().enumerate() {
                let item = format!("{field}[{index}]");
                http_url(&item, string(&item, url)?)?;
            }
        }
        Kind::Dtmf { max } => {
            let digits = string(field, value)?;
            let valid = (1..=max).contains(&digits.len())
                && digits
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'A'..=b'D'));
            if !valid {
                return Err(ApiError::invalid(
                    field,
                    format!("must be 1-{max} of 0-9 * # A B C D"),
                ));
            }
        }
        Kind::Language => language(field, string(field, value)?)?,
        Kind::Variable => {
            let name = string(field, value)?;
            let valid = (1..=255).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !valid {
                return Err(ApiError::invalid(
                    field,
                    "must be 1-255 of letters, digits and . _ -",
                ));
            }
        }
        Kind::Address => address(field, value)?,
        Kind::Addresses { max } => {
            let addresses = value
                .as_array()
                .ok_or_else(|| ApiError::invalid(field, "must be an array of addresses"))?;
            if addresses.is_empty() || addresses.len() > max {
                return Err(ApiError::invalid(
                    field,
                    format!("must list 1 to {max} addresses"),
                ));
            }
            for (index, entry) in addresses.iter().enumerate() {
                address(&format!("{field}[{index}]"), entry)?;
            }
        }
    }
    Ok(())
}

fn string<'a>(field: &str, value: &'a Value) -> Result<&'a str, ApiError> {
    value
        .as_str()
        .ok_or_else(|| ApiError::invalid(field, "must be a string"))
}

fn uuid_value(field: &str, value: &Value) -> Result<Uuid, ApiError> {
    let text = string(field, value)?;
    Uuid::parse_str(text).map_err(|_| ApiError::invalid(field, format!("{text:?} is not a UUID")))
}

/// The id of an action of the same flow.
fn target(field: &str, value: &Value, ids: &HashSet<Uuid>) -> Result<Uuid, ApiError> {
    let id = uuid_value(field, value)?;
    if ids.contains(&id) {
        Ok(id)
    } else {
        Err(ApiError::invalid(
            field,
            format!("no action of this flow has id {id}"),
        ))
    }
}

/// A language tag (BCP 47 shape): a 2-3 letter language, then subtags such as `US`.
fn language(field: &str, tag: &str) -> Result<(), ApiError> {
    let mut parts = tag.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if primary_ok && rest_ok && tag.len() <= 35 {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("{tag:?} is not a language tag such as en-US"),
        ))
    }
}

/// `{"type": "tel"|"sip"|"extension"|"agent", "target": …, "name"?: …}`.
fn address(field: &str, value: &Value) -> Result<(), ApiError> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::invalid(field, "must be an address {\"type\", \"target\"}"))?;
    if let Some(unknown) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "type" | "target" | "name"))
    {
        return Err(ApiError::invalid(
            &format!("{field}.{unknown}"),
            "is not a field of an address (type, target, name)",
        ));
    }
    let kind_field = format!("{field}.type");
    let kind = string(
        &kind_field,
        object
            .get("type")
            .ok_or_else(|| ApiError::invalid(&kind_field, "is required"))?,
    )?;
    let target_field = format!("{field}.target");
    let target = string(
        &target_field,
        object
            .get("target")
            .ok_or_else(|| ApiError::invalid(&target_field, "is required"))?,
    )?;
    if let Some(name) = object.get("name")
        && string(&format!("{field}.name"), name)?.chars().count() > 255
    {
        return Err(ApiError::invalid(
            &format!("{field}.name"),
            "longer than 255 characters",
        ));
    }
    let valid = match kind {
        "tel" => target.strip_prefix('+').is_some_and(|digits| {
            (2..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        }),
        "sip" => {
            let uri = target.strip_prefix("sip:").unwrap_or(target);
            uri.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty()
                    && user.len() <= 255
                    && !user.contains(|c: char| c.is_whitespace() || c.is_control())
                    && host_name(&target_field, host).is_ok()
            })
        }
        "extension" => {
            (2..=10).contains(&target.len()) && target.bytes().all(|b| b.is_ascii_digit())
        }
        "agent" => Uuid::parse_str(target).is_ok(),
        _ => {
            return Err(ApiError::invalid(
                &kind_field,
                "must be one of tel, sip, extension, agent",
            ));
        }
    };
    if valid {
        Ok(())
    } else {
        let expected = match kind {
            "tel" => "an E.164 number such as +15551234567",
            "sip" => "a SIP address user@host",
            "extension" => "2-10 digits",
            _ => "an agent id (UUID)",
        };
        Err(ApiError::invalid(
            &target_field,
            format!("{target:?} is not {expected}"),
        ))
    }
}

/// An absolute `http` or `https` URL with a host (name, IPv4 or `[IPv6]`), an optional port,
/// no credentials, at most 2048 visible ASCII characters.
pub(crate) fn http_url(field: &str, url: &str) -> Result<(), ApiError> {
    let invalid =
        |why: &str| ApiError::invalid(field, format!("{url:?} is not a valid URL: {why}"));
    if url.len() > 2048 {
        return Err(invalid("longer than 2048 characters"));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "only visible ASCII characters (percent-encode others)",
        ));
    }
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err(invalid("must start with http:// or https://"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid("credentials do not belong in the URL"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (v6, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("unclosed [ in the host"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(invalid("the bracketed host is not an IPv6 address"));
        }
        match after {
            "" => (None, None),
            port => (
                None,
                Some(
                    port.strip_prefix(':')
                        .ok_or_else(|| invalid("junk after the host"))?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(authority), None),
        }
    };
    if let Some(host) = host
        && (host.is_empty() || host_name(field, host).is_err())
    {
        return Err(invalid("no valid host"));
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|port| port > 0)
    {
        return Err(invalid("the port must be 1-65535"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(actions: Value) -> String {
        match validate_actions(&actions) {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("{actions} was accepted or failed otherwise: {other:?}"),
        }
    }

    #[test]
    fn urls() {
        for good in [
            "https://example.com/hook",
            "http://10.0.0.1:8080/a?b=c#d",
            "https://[2001:db8::1]:443/x",
            "HTTPS://Example.COM",
        ] {
            assert!(http_url("u", good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.com",
            "https://",
            "https://exa mple.com",
            "https://user:pw@example.com/",
            "https://example.com:0/",
            "https://example.com:99999/",
            "https://[::1/",
            "https://bad_host!/",
            "example.com/hook",
            "https://例え.jp/",
        ] {
            assert!(http_url("u", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_action_type_with_its_options_is_accepted() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let actions = json!([
            {"id": a, "type": "answer"},
            {"id": b, "type": "talk", "option": {"text": "Hello", "language": "en-US", "gender": "female"}},
            {"type": "play", "option": {"stream_urls": ["https://example.com/a.wav"]}},
            {"type": "digits_receive", "option": {"duration": 5000, "length": 1, "key": "#"}},
            {"type": "digits_send", "option": {"digits": "123#", "duration": 250, "interval": 100}},
            {"type": "branch", "option": {"variable": "voipbin.call.digits", "default_target_id": a, "target_ids": {"1": b}}},
            {"type": "goto", "option": {"target_id": a, "loop_count": 2}},
            {"type": "sleep", "option": {"duration": 1000}},
            {"type": "recording_start", "option": {"format": "wav", "duration": 60000, "end_of_silence": 3000, "end_of_key": "#", "beep_start": true}},
            {"type": "recording_stop"},
            {"type": "queue_join", "option": {"queue_id": Uuid::new_v4()}},
            {"type": "conference_join", "option": {"conference_id": Uuid::new_v4()}},
            {"type": "connect", "option": {"source": {"type": "tel", "target": "+15551234567"},
                "destinations": [{"type": "sip", "target": "sip:bob@pbx.example.com"}, {"type": "extension", "target": "100"}, {"type": "agent", "target": Uuid::new_v4()}],
                "early_media": false}},
            {"type": "webhook_send", "option": {"uri": "https://example.com/hook", "method": "POST", "data_type": "application/json", "data": "{}", "sync": true}},
            {"type": "variable_set", "option": {"key": "lang", "value": ""}},
            {"type": "transcribe_start", "option": {"language": "de"}},
            {"type": "transcribe_stop"},
            {"type": "fetch", "option": {"event_url": "http://10.0.0.1/next", "event_method": "GET"}},
            {"type": "hangup", "option": {"reason": "busy"}, "next_id": b},
            {"type": "stop"}
        ]);
        let checked = validate_actions(&actions).unwrap();
        assert_eq!(checked.len(), 20);
        assert_eq!((checked[0].id, checked[1].id), (a, b), "given ids are kept");
        let ids: HashSet<_> = checked.iter().map(|action| action.id).collect();
        assert_eq!(ids.len(), 20, "missing ids are generated, all distinct");
        assert_eq!(checked[18].next_id, Some(b));
        let names: HashSet<_> = checked.iter().map(|action| action.kind.as_str()).collect();
        assert_eq!(names.len(), ACTIONS.len(), "the list covers every type");
    }

    #[test]
    fn bad_actions_name_the_field() {
        let a = Uuid::new_v4();
        let cases = [
            (json!({}), "actions"),
            (json!([]), "actions"),
            (json!(["answer"]), "actions[0]"),
            (json!([{"type": "dance"}]), "actions[0].type"),
            (json!([{"option": {}}]), "actions[0].type"),
            (json!([{"type": "answer", "opton": {}}]), "actions[0].opton"),
            (
                json!([{"type": "answer", "option": []}]),
                "actions[0].option",
            ),
            (
                json!([{"type": "answer", "option": {"x": 1}}]),
                "actions[0].option.x",
            ),
            (json!([{"type": "answer", "id": "x"}]), "actions[0].id"),
            (
                json!([{"type": "answer", "id": a}, {"type": "answer", "id": a}]),
                "actions[1].id",
            ),
            (
                json!([{"type": "answer", "next_id": Uuid::new_v4()}]),
                "actions[0].next_id",
            ),
            (
                json!([{"type": "answer"}, {"type": "talk", "option": {}}]),
                "actions[1].option.text",
            ),
            (
                json!([{"type": "talk", "option": {"text": 5}}]),
                "actions[0].option.text",
            ),
            (
                json!([{"type": "talk", "option": {"text": "hi", "gender": "robot"}}]),
                "actions[0].option.gender",
            ),
            (
                json!([{"type": "talk", "option": {"text": "hi", "language": "english!"}}]),
                "actions[0].option.language",
            ),
            (
                json!([{"type": "play", "option": {"stream_urls": []}}]),
                "actions[0].option.stream_urls",
            ),
            (
                json!([{"type": "play", "option": {"stream_urls": ["https://ok.example", "file:///etc/passwd"]}}]),
                "actions[0].option.stream_urls[1]",
            ),
            (
                json!([{"type": "answer"}, {"type": "answer"}, {"type": "digits_receive", "option": {"duration": 0}}]),
                "actions[2].option.duration",
            ),
            (
                json!([{"type": "digits_receive", "option": {"duration": 300_001}}]),
                "actions[0].option.duration",
            ),
            (
                json!([{"type": "digits_receive", "option": {"duration": 1.5}}]),
                "actions[0].option.duration",
            ),
            (
                json!([{"type": "digits_receive", "option": {"duration": "5000"}}]),
                "actions[0].option.duration",
            ),
            (
                json!([{"type": "digits_receive", "option": {"duration": 5000, "key": "x"}}]),
                "actions[0].option.key",
            ),
            (
                json!([{"type": "digits_send", "option": {"digits": ""}}]),
                "actions[0].option.digits",
            ),
            (
                json!([{"type": "hangup", "option": {"reason": "bored"}}]),
                "actions[0].option.reason",
            ),
            (
                json!([{"type": "goto", "option": {"target_id": Uuid::new_v4()}}]),
                "actions[0].option.target_id",
            ),
            (
                json!([{"type": "goto", "id": a, "option": {"target_id": a, "loop_count": 0}}]),
                "actions[0].option.loop_count",
            ),
            (
                json!([{"type": "branch", "option": {}}]),
                "actions[0].option.target_ids",
            ),
            (
                json!([{"type": "branch", "id": a, "option": {"target_ids": {"1": Uuid::new_v4()}}}]),
                "actions[0].option.target_ids.1",
            ),
            (
                json!([{"type": "branch", "id": a, "option": {"target_ids": {"1": a}, "default_target_id": Uuid::new_v4()}}]),
                "actions[0].option.default_target_id",
            ),
            (
                json!([{"type": "sleep", "option": {}}]),
                "actions[0].option.duration",
            ),
            (
                json!([{"type": "recording_start", "option": {"format": "mp3"}}]),
                "actions[0].option.format",
            ),
            (
                json!([{"type": "recording_start", "option": {"beep_start": "yes"}}]),
                "actions[0].option.beep_start",
            ),
            (
                json!([{"type": "queue_join", "option": {"queue_id": "q1"}}]),
                "actions[0].option.queue_id",
            ),
            (
                json!([{"type": "conference_join"}]),
                "actions[0].option.conference_id",
            ),
            (
                json!([{"type": "connect", "option": {"destinations": []}}]),
                "actions[0].option.destinations",
            ),
            (
                json!([{"type": "connect", "option": {"destinations": [{"type": "tel", "target": "555"}]}}]),
                "actions[0].option.destinations[0].target",
            ),
            (
                json!([{"type": "connect", "option": {"destinations": [{"type": "fax", "target": "1"}]}}]),
                "actions[0].option.destinations[0].type",
            ),
            (
                json!([{"type": "connect", "option": {"source": {"type": "tel"}, "destinations": [{"type": "extension", "target": "100"}]}}]),
                "actions[0].option.source.target",
            ),
            (
                json!([{"type": "webhook_send", "option": {"uri": "not a url"}}]),
                "actions[0].option.uri",
            ),
            (
                json!([{"type": "webhook_send", "option": {"uri": "https://x.example", "method": "PATCH"}}]),
                "actions[0].option.method",
            ),
            (
                json!([{"type": "variable_set", "option": {"key": "a b", "value": "v"}}]),
                "actions[0].option.key",
            ),
            (
                json!([{"type": "variable_set", "option": {"key": "a"}}]),
                "actions[0].option.value",
            ),
            (
                json!([{"type": "transcribe_start"}]),
                "actions[0].option.language",
            ),
            (
                json!([{"type": "fetch", "option": {"event_url": "gopher://x"}}]),
                "actions[0].option.event_url",
            ),
            (
                json!([{"type": "stop", "option": {"now": true}}]),
                "actions[0].option.now",
            ),
        ];
        for (actions, field) in cases {
            assert_eq!(field_of(actions.clone()), field, "{actions}");
        }
    }

    #[test]
    fn messages_name_index_field_and_range() {
        let error = validate_actions(&json!([
            {"type": "answer"}, {"type": "answer"},
            {"type": "sleep", "option": {"duration": 0}}
        ]))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "actions[2].option.duration: must be 1-300000 ms"
        );
    }

    #[test]
    fn too_many_actions() {
        let many: Vec<Value> = (0..=MAX_ACTIONS)
            .map(|_| json!({"type": "answer"}))
            .collect();
        assert_eq!(field_of(Value::Array(many)), "actions");
    }
}
