//! The position of a track in a sorted list, as an opaque cursor. Each sort needs the values
//! it orders by plus the id (the tie-breaker), so a cursor of one sort is refused by another.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::TrackSort;
use crate::pagination::PageError;

#[derive(Debug, Clone, PartialEq)]
pub enum TrackCursor {
    Recent {
        id: Uuid,
    },
    /// The full-text score as the store computed it; written with Rust's shortest
    /// round-tripping form, so the next page compares against the exact same value.
    Relevance {
        score: f64,
        id: Uuid,
    },
    Popular {
        popularity: i64,
        id: Uuid,
    },
    Title {
        title_key: String,
        id: Uuid,
    },
}

impl TrackCursor {
    pub fn sort(&self) -> TrackSort {
        match self {
            TrackCursor::Recent { .. } => TrackSort::Recent,
            TrackCursor::Relevance { .. } => TrackSort::Relevance,
            TrackCursor::Popular { .. } => TrackSort::Popular,
            TrackCursor::Title { .. } => TrackSort::Title,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            TrackCursor::Recent { id }
            | TrackCursor::Relevance { id, .. }
            | TrackCursor::Popular { id, .. }
            | TrackCursor::Title { id, .. } => *id,
        }
    }

    /// `r.<id>`, `s.<id>.<score>`, `p.<popularity>.<id>` or `t.<id>.<title key>`, base64url: the title key
    /// comes last because it may contain anything, dots included.
    pub fn encode(&self) -> String {
        let text = match self {
            TrackCursor::Recent { id } => format!("r.{id}"),
            TrackCursor::Relevance { score, id } => format!("s.{id}.{score}"),
            TrackCursor::Popular { popularity, id } => format!("p.{popularity}.{id}"),
            TrackCursor::Title { title_key, id } => format!("t.{id}.{title_key}"),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    /// # Errors
    /// `BadCursor` for anything `encode` did not produce for `sort`.
    pub fn decode(cursor: &str, sort: TrackSort) -> Result<Self, PageError> {
        let bad = || PageError::BadCursor;
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let id = |s: &str| Uuid::try_parse(s).map_err(|_| bad());
        let decoded = match text.split_once('.').ok_or_else(bad)? {
            ("r", rest) => TrackCursor::Recent { id: id(rest)? },
            ("s", rest) => {
                let (uuid, score) = rest.split_once('.').ok_or_else(bad)?;
                let score: f64 = score.parse().map_err(|_| bad())?;
                if !score.is_finite() {
                    return Err(bad());
                }
                TrackCursor::Relevance { score, id: id(uuid)? }
            }
            ("p", rest) => {
                let (popularity, rest) = rest.split_once('.').ok_or_else(bad)?;
                TrackCursor::Popular {
                    popularity: popularity.parse().map_err(|_| bad())?,
                    id: id(rest)?,
                }
            }
            ("t", rest) => {
                let (uuid, title_key) = rest.split_once('.').ok_or_else(bad)?;
                // Title keys come from titles, which hold no control characters (and
                // PostgreSQL refuses NUL in text): such a cursor is not one of ours.
                if title_key.chars().any(char::is_control) {
                    return Err(bad());
                }
                TrackCursor::Title { title_key: title_key.to_owned(), id: id(uuid)? }
            }
            _ => return Err(bad()),
        };
        if decoded.sort() == sort { Ok(decoded) } else { Err(bad()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_only_for_their_own_sort() {
        let id = Uuid::now_v7();
        let cursors = [
            TrackCursor::Recent { id },
            TrackCursor::Relevance { score: 0.1 + 0.2, id },
            TrackCursor::Popular { popularity: -3, id },
            TrackCursor::Title { title_key: "a.b c".to_owned(), id },
        ];
        for cursor in cursors {
            let text = cursor.encode();
            assert_eq!(TrackCursor::decode(&text, cursor.sort()), Ok(cursor.clone()));
            for other in TrackSort::ALL.into_iter().filter(|s| *s != cursor.sort()) {
                assert_eq!(TrackCursor::decode(&text, other), Err(PageError::BadCursor));
            }
        }
        let nan = URL_SAFE_NO_PAD.encode(format!("s.{id}.NaN"));
        assert!(TrackCursor::decode(&nan, TrackSort::Relevance).is_err());
        let nul = URL_SAFE_NO_PAD.encode(format!("t.{id}.a\0b"));
        assert_eq!(TrackCursor::decode(&nul, TrackSort::Title), Err(PageError::BadCursor));
        for garbage in ["", "%%", "AAAA", &URL_SAFE_NO_PAD.encode("p.x.y")] {
            assert!(TrackCursor::decode(garbage, TrackSort::Popular).is_err(), "{garbage}");
        }
    }
}
