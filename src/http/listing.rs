//! Query strings of the admin API's lists, read as PeerTube's validators read them:
//! `start` (≥ 0), `count` (0..100, default 15), `sort` (`field` or `-field`, default
//! `-createdAt`), and for jobs `search`, `stateOneOf` and `typeOneOf`. Array
//! parameters may be repeated plainly (`stateOneOf=1&stateOneOf=2`, what PeerTube's
//! own client and test commands send) or with brackets (`stateOneOf[]=1`,
//! `stateOneOf[0]=1`). A bad value is a 400 naming it, shaped like PeerTube's
//! validation errors; unknown parameters are ignored.

use serde_json::Map;

use super::extract::Fields;
use crate::domain::job::{JobState, JobType};
use crate::domain::listing::{JobFilter, JobSearch, MAX_COUNT, Page, Sort, SortField};
use crate::error::ApiError;

/// The `(key, value)` pairs of a query string, array brackets stripped from keys.
fn pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            let key = match k.find('[') {
                Some(i) if k.ends_with(']') => k[..i].to_owned(),
                _ => k.into_owned(),
            };
            (key, v.into_owned())
        })
        .collect()
}

/// A list query being read; errors are collected and answered together.
pub struct ListQuery {
    pairs: Vec<(String, String)>,
    empty: Map<String, serde_json::Value>,
    errors: Vec<(String, String, String)>,
}

impl ListQuery {
    /// Reads the query string `query`.
    pub fn new(query: &str) -> ListQuery {
        ListQuery {
            pairs: pairs(query),
            empty: Map::new(),
            errors: Vec::new(),
        }
    }

    fn last(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn invalid(&mut self, name: &str, value: &str, msg: &str) {
        self.errors
            .push((name.to_owned(), value.to_owned(), msg.to_owned()));
    }

    /// `start` and `count`.
    pub fn page(&mut self) -> Page {
        let mut page = Page::default();
        if let Some(v) = self.last("start").map(str::to_owned) {
            match v.parse::<i64>() {
                Ok(n) if n >= 0 => page.start = n,
                _ => self.invalid("start", &v, "Should have a number start (min: 0)"),
            }
        }
        if let Some(v) = self.last("count").map(str::to_owned) {
            match v.parse::<i64>() {
                Ok(n) if (0..=MAX_COUNT).contains(&n) => page.count = n,
                _ => self.invalid(
                    "count",
                    &v,
                    &format!("Should have a number count (max: {MAX_COUNT})"),
                ),
            }
        }
        page
    }

    /// `sort` (the listing's default when absent or empty).
    pub fn sort<F: SortField>(&mut self) -> Sort<F>
    where
        Sort<F>: Default,
    {
        match self.last("sort").map(str::to_owned) {
            None => Sort::default(),
            Some(v) if v.is_empty() => Sort::default(),
            Some(v) => Sort::parse(&v).unwrap_or_else(|| {
                let accepted = Sort::<F>::accepted().join(", ");
                self.invalid("sort", &v, &format!("Should be one of {accepted}"));
                Sort::default()
            }),
        }
    }

    /// `search`, `stateOneOf` and `typeOneOf` of the job list.
    pub fn job_filter(&mut self) -> JobFilter {
        let search = self
            .last("search")
            .filter(|s| !s.is_empty())
            .map(JobSearch::parse);
        let mut states = Vec::new();
        for v in self.all("stateOneOf") {
            match v.parse::<i32>().ok().and_then(JobState::from_id) {
                Some(state) => states.push(state),
                None => self.invalid(
                    "stateOneOf",
                    &v,
                    "Should be runner job states (integers 1 to 9)",
                ),
            }
        }
        let mut types = Vec::new();
        for v in self.all("typeOneOf") {
            match v.parse::<JobType>() {
                Ok(t) => types.push(t),
                Err(_) => self.invalid("typeOneOf", &v, "Should be runner job types"),
            }
        }
        JobFilter {
            search,
            states,
            types,
        }
    }

    /// Ok when every parameter read was valid; otherwise the 400 for `instance` (the
    /// request path).
    pub fn finish(self, instance: &str) -> Result<(), ApiError> {
        let mut fields = Fields::new(&self.empty);
        for (name, value, msg) in &self.errors {
            fields.invalid_query(name, value, msg);
        }
        fields.finish(instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::listing::{Direction, JobSortField};

    #[test]
    fn pages_sorts_and_filters_are_read_like_peertube() {
        let mut q = ListQuery::new(
            "start=5&count=100&sort=-priority&search=hls&stateOneOf=1&stateOneOf[]=4\
             &stateOneOf[2]=9&typeOneOf=vod-hls-transcoding&other=x",
        );
        assert_eq!(
            q.page(),
            Page {
                start: 5,
                count: 100
            }
        );
        let sort: Sort<JobSortField> = q.sort();
        assert_eq!(
            (sort.field, sort.direction),
            (JobSortField::Priority, Direction::Desc)
        );
        let f = q.job_filter();
        assert_eq!(f.search, Some(JobSearch::Text("hls".to_owned())));
        assert_eq!(
            f.states,
            [JobState::Pending, JobState::Errored, JobState::Completing]
        );
        assert_eq!(f.types, [JobType::VodHlsTranscoding]);
        assert!(q.finish("/x").is_ok());
    }

    #[test]
    fn defaults_apply_and_bad_values_are_named() {
        let mut q = ListQuery::new("");
        assert_eq!(q.page(), Page::default());
        assert_eq!(q.sort::<JobSortField>(), Sort::default());
        assert!(q.finish("/x").is_ok());

        let mut q = ListQuery::new("start=-1&count=101&sort=name&stateOneOf=10&typeOneOf=x");
        q.page();
        q.sort::<JobSortField>();
        q.job_filter();
        let err = q.finish("/api/v1/runners/jobs").unwrap_err().body();
        assert_eq!(
            err["detail"],
            "Incorrect request parameters: count, sort, start, stateOneOf, typeOneOf"
        );
        assert_eq!(err["invalid-params"]["count"]["location"], "query");
        assert_eq!(err["invalid-params"]["count"]["value"], "101");
    }
}
