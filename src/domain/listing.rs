//! How the admin API lists things, as PeerTube's does: a page (`start`, `count`), a
//! sort (`createdAt`, `-createdAt`, …: a leading `-` is descending, ties go by id
//! ascending), and for jobs a filter (`search`, `stateOneOf`, `typeOneOf`).

use super::ids::JobUuid;
use super::job::{JobState, JobType};

/// The default and largest page size (PeerTube's `PAGINATION.GLOBAL.COUNT`).
pub const DEFAULT_COUNT: i64 = 15;
/// The largest `count` accepted.
pub const MAX_COUNT: i64 = 100;

/// A page: skip `start` rows, return at most `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows skipped (≥ 0).
    pub start: i64,
    /// Rows returned at most (0..=[`MAX_COUNT`]).
    pub count: i64,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            start: 0,
            count: DEFAULT_COUNT,
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// A sortable field of a listing.
pub trait SortField: Sized + Copy + 'static {
    /// Every field with its wire name.
    const FIELDS: &'static [(&'static str, Self)];
}

/// A sort order: a field and a direction, written `field` or `-field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<F> {
    /// What to sort by.
    pub field: F,
    /// Which way.
    pub direction: Direction,
}

impl<F: SortField> Sort<F> {
    /// Reads `field` or `-field`; `None` for a field the listing does not sort by.
    pub fn parse(s: &str) -> Option<Sort<F>> {
        let (direction, name) = match s.strip_prefix('-') {
            Some(name) => (Direction::Desc, name),
            None => (Direction::Asc, s),
        };
        F::FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, field)| Sort {
                field: *field,
                direction,
            })
    }

    /// Every accepted value (`createdAt`, `-createdAt`, …), for error messages and the
    /// API document.
    pub fn accepted() -> Vec<String> {
        F::FIELDS
            .iter()
            .flat_map(|(n, _)| [(*n).to_owned(), format!("-{n}")])
            .collect()
    }
}

/// Runners and registration tokens sort by creation time only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedAt {
    /// `createdAt`.
    CreatedAt,
}

impl SortField for CreatedAt {
    const FIELDS: &'static [(&'static str, CreatedAt)] = &[("createdAt", CreatedAt::CreatedAt)];
}

impl Default for Sort<CreatedAt> {
    /// PeerTube's default: `-createdAt`.
    fn default() -> Self {
        Sort {
            field: CreatedAt::CreatedAt,
            direction: Direction::Desc,
        }
    }
}

/// What runner jobs sort by (PeerTube's `SORTABLE_COLUMNS.RUNNER_JOBS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSortField {
    /// `updatedAt`.
    UpdatedAt,
    /// `createdAt`.
    CreatedAt,
    /// `priority`.
    Priority,
    /// `state`.
    State,
    /// `progress` (jobs without progress last ascending, first descending, as
    /// PostgreSQL orders NULLs, on both backends).
    Progress,
}

impl SortField for JobSortField {
    const FIELDS: &'static [(&'static str, JobSortField)] = &[
        ("updatedAt", JobSortField::UpdatedAt),
        ("createdAt", JobSortField::CreatedAt),
        ("priority", JobSortField::Priority),
        ("state", JobSortField::State),
        ("progress", JobSortField::Progress),
    ];
}

impl Default for Sort<JobSortField> {
    /// PeerTube's default: `-createdAt`.
    fn default() -> Self {
        Sort {
            field: JobSortField::CreatedAt,
            direction: Direction::Desc,
        }
    }
}

/// `search` of the job list: an exact UUID, or text matched case-insensitively
/// anywhere in the job type or the runner's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSearch {
    /// The job with this UUID.
    Uuid(JobUuid),
    /// A substring of the type or of the runner name, any case.
    Text(String),
}

impl JobSearch {
    /// Reads a `search` value as PeerTube does: a UUID v4 is an exact match.
    pub fn parse(s: &str) -> JobSearch {
        match JobUuid::parse(s) {
            Ok(uuid) => JobSearch::Uuid(uuid),
            Err(_) => JobSearch::Text(s.to_owned()),
        }
    }
}

/// Which jobs a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// `search`.
    pub search: Option<JobSearch>,
    /// `stateOneOf`: any of these states (empty: any state).
    pub states: Vec<JobState>,
    /// `typeOneOf`: any of these types (empty: any type).
    pub types: Vec<JobType>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_read_a_direction_and_a_known_field() {
        let s = Sort::<JobSortField>::parse("-progress");
        assert_eq!(
            s,
            Some(Sort {
                field: JobSortField::Progress,
                direction: Direction::Desc
            })
        );
        assert_eq!(
            Sort::<JobSortField>::parse("priority").map(|s| s.direction),
            Some(Direction::Asc)
        );
        assert_eq!(Sort::<JobSortField>::parse("name"), None);
        assert_eq!(Sort::<JobSortField>::parse("--createdAt"), None);
        assert_eq!(Sort::<CreatedAt>::parse("updatedAt"), None);
        assert_eq!(
            Sort::<CreatedAt>::accepted(),
            vec!["createdAt".to_owned(), "-createdAt".to_owned()]
        );
        assert_eq!(Sort::<CreatedAt>::default().direction, Direction::Desc);
    }

    #[test]
    fn a_uuid_search_is_exact_and_anything_else_is_text() {
        let uuid = JobUuid::generate();
        assert_eq!(JobSearch::parse(&uuid.to_string()), JobSearch::Uuid(uuid));
        assert_eq!(JobSearch::parse("HLS"), JobSearch::Text("HLS".to_owned()));
    }
}
