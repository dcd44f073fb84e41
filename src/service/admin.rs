//! The admin API's listings (PeerTube's runner administration, `runner-protocol.md`
//! 4): pages of runners, registration tokens and jobs, shaped `{total, data}` as
//! PeerTube's. Cancelling, deleting and retrying jobs are in [`crate::service::jobs`].

use serde::Serialize;

use crate::db::{self, Db};
use crate::domain::listing::{CreatedAt, JobFilter, JobSortField, Page, Sort};
use crate::domain::payloads::PrivatePayload;
use crate::error::ServiceError;
use crate::service::jobs::view::RunnerJobView;
use crate::service::registration_tokens::RegistrationToken;
use crate::service::runners::RunnerInfo;

/// A page of a listing: `total` rows match, `data` is the page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ListPage<T> {
    /// How many rows the listing has (whatever the page).
    pub total: i64,
    /// The rows of this page.
    pub data: Vec<T>,
}

/// A job as the admin list shows it (PeerTube's `RunnerJobAdmin`): the RunnerJob
/// object plus its private payload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerJobAdminView {
    /// The RunnerJob object (`runner-protocol.md` 1.9).
    #[serde(flatten)]
    pub job: RunnerJobView,
    /// What the server keeps beside the job.
    pub private_payload: PrivatePayload,
}

/// A page of runners.
pub async fn runners(
    db: &Db,
    page: Page,
    sort: Sort<CreatedAt>,
) -> Result<ListPage<RunnerInfo>, ServiceError> {
    let (rows, total) = db
        .run(move |conn| db::admin::runners_page(conn, page, sort))
        .await?;
    Ok(ListPage {
        total,
        data: rows.into_iter().map(RunnerInfo::from).collect(),
    })
}

/// A page of registration tokens, each with its number of runners.
pub async fn registration_tokens(
    db: &Db,
    page: Page,
    sort: Sort<CreatedAt>,
) -> Result<ListPage<RegistrationToken>, ServiceError> {
    let (rows, total) = db
        .run(move |conn| db::admin::registration_tokens_page(conn, page, sort))
        .await?;
    Ok(ListPage {
        total,
        data: rows
            .into_iter()
            .map(|(t, registered_runners_count)| RegistrationToken {
                id: t.id,
                registration_token: t.token,
                created_at: t.created_at,
                updated_at: t.updated_at,
                registered_runners_count,
            })
            .collect(),
    })
}

/// A page of the jobs `filter` matches, in `sort` order.
pub async fn jobs(
    db: &Db,
    filter: JobFilter,
    sort: Sort<JobSortField>,
    page: Page,
) -> Result<ListPage<RunnerJobAdminView>, ServiceError> {
    let (rows, total) = db
        .run(move |conn| db::admin::jobs_page(conn, &filter, sort, page))
        .await?;
    Ok(ListPage {
        total,
        data: rows
            .into_iter()
            .map(|listed| {
                let private_payload = listed.job.private_payload.clone();
                RunnerJobAdminView {
                    job: RunnerJobView::new(
                        listed.job,
                        listed.parent.as_ref(),
                        listed.runner.as_ref(),
                    ),
                    private_payload,
                }
            })
            .collect(),
    })
}
