//! List pagination: `page_size` (1–100, default 10) and an opaque `page_token` that resumes
//! after the last row of the previous page (keyset pagination: stable under inserts).

use crate::ApiError;
use ferrovox_store::Cursor;
use serde::Deserialize;

const DEFAULT_SIZE: u32 = 10;
const MAX_SIZE: u32 = 100;
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page_size: Option<String>,
    page_token: Option<String>,
}

impl PageQuery {
    pub fn parse(&self) -> Result<(u32, Option<Cursor>), ApiError> {
        let size = match &self.page_size {
            None => DEFAULT_SIZE,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|size| (1..=MAX_SIZE).contains(size))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "page_size",
                        format!("must be a number from 1 to {MAX_SIZE}"),
                    )
                })?,
        };
        let cursor = match &self.page_token {
            None => None,
            Some(token) if token.is_empty() => None,
            Some(token) => Some(decode_token(token).ok_or_else(|| {
                ApiError::invalid("page_token", "is not a token this API issued")
            })?),
        };
        Ok((size, cursor))
    }
}

pub fn encode_token(cursor: &Cursor) -> String {
    hex::encode(format!(
        "{}|{}",
        cursor.tm_create.format(TIME_FORMAT),
        cursor.id
    ))
}

fn decode_token(token: &str) -> Option<Cursor> {
    let text = String::from_utf8(hex::decode(token).ok()?).ok()?;
    let (time, id) = text.split_once('|')?;
    let tm_create = chrono::NaiveDateTime::parse_from_str(time, TIME_FORMAT).ok()?;
    uuid::Uuid::parse_str(id).ok()?;
    Some(Cursor {
        tm_create,
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(size: Option<&str>, token: Option<&str>) -> PageQuery {
        PageQuery {
            page_size: size.map(str::to_owned),
            page_token: token.map(str::to_owned),
        }
    }

    #[test]
    fn tokens_round_trip_and_junk_is_refused() {
        let cursor = Cursor {
            tm_create: ferrovox_store::model::now(),
            id: uuid::Uuid::new_v4().to_string(),
        };
        let token = encode_token(&cursor);
        assert_eq!(
            query(None, Some(&token)).parse().unwrap(),
            (10, Some(cursor))
        );
        for junk in ["zz", "00", &hex::encode("2026|not-a-uuid")] {
            assert!(
                matches!(
                    query(None, Some(junk)).parse(),
                    Err(ApiError::Invalid { .. })
                ),
                "{junk}"
            );
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(query(Some("100"), None).parse().unwrap().0, 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(query(Some(bad), None).parse().is_err(), "{bad}");
        }
    }
}
