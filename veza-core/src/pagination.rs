//! Cursor pagination shared by every list: `limit` 1–100 (default 20) and an opaque cursor
//! that encodes the last id of the previous page. Ids are UUIDv7, so they order like time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("limit must be between 1 and {MAX_LIMIT}")]
    BadLimit,
    #[error("cursor is not one this server issued")]
    BadCursor,
}

/// A validated page request: newest first, strictly after `after` when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Uuid>,
}

impl PageRequest {
    /// # Errors
    /// `BadLimit` outside 1–100, `BadCursor` for anything that does not decode to an id.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, PageError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => n as u32,
            Some(_) => return Err(PageError::BadLimit),
        };
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(Self { limit, after })
    }

    pub fn first(limit: u32) -> Self {
        Self { limit: limit.clamp(1, MAX_LIMIT), after: None }
    }

    /// How many rows an adapter should fetch: one more than the page, to know if another follows.
    pub fn fetch_limit(&self) -> u32 {
        self.limit + 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `fetch_limit()` rows ordered newest first.
    pub fn from_rows(rows: Vec<T>, req: PageRequest, id_of: impl Fn(&T) -> Uuid) -> Self {
        Self::from_rows_with(rows, req, |last| encode_cursor(id_of(last)))
    }

    /// As `from_rows`, for orders whose cursor is more than an id: `cursor_of` names the
    /// position after the page's last row.
    pub fn from_rows_with(
        mut rows: Vec<T>,
        req: PageRequest,
        cursor_of: impl Fn(&T) -> String,
    ) -> Self {
        let next_cursor = if rows.len() > req.limit as usize {
            rows.truncate(req.limit as usize);
            rows.last().map(cursor_of)
        } else {
            None
        };
        Self { items: rows, next_cursor }
    }
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<Uuid, PageError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| PageError::BadCursor)?;
    Uuid::from_slice(&bytes).map_err(|_| PageError::BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_rejected() {
        let id = Uuid::now_v7();
        let req = PageRequest::parse(Some(5), Some(&encode_cursor(id))).unwrap();
        assert_eq!(req.after, Some(id));
        assert_eq!(PageRequest::parse(None, Some("%%%")), Err(PageError::BadCursor));
        assert_eq!(PageRequest::parse(None, Some("AAAA")), Err(PageError::BadCursor));
        assert_eq!(PageRequest::parse(Some(0), None), Err(PageError::BadLimit));
        assert_eq!(PageRequest::parse(Some(101), None), Err(PageError::BadLimit));
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn a_full_page_carries_a_cursor_to_the_next() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), PageRequest::first(2), |id| *id);
        assert_eq!(page.items, ids[..2]);
        let next = PageRequest::parse(Some(2), page.next_cursor.as_deref()).unwrap();
        assert_eq!(next.after, Some(ids[1]));
        let last = Page::from_rows(ids[..2].to_vec(), PageRequest::first(2), |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
