//! Files crossing the HTTP boundary: request bodies staged on local disk before a
//! service takes them, and stored objects handed out (a stream with the metadata
//! conditional and range requests need, or a redirect). `http` works with these
//! types and calls services; it never reaches storage itself.

pub use crate::storage::{
    ByteStream, Delivery, ObjectMeta, ObjectReader, StagedFile, Staging, content_type,
};

use crate::service::Context;

/// Where this instance stages uploads (runner results, submitted videos): next to
/// the storage on local disk, so that storing a finished upload is a rename.
pub fn staging(ctx: &Context) -> &Staging {
    ctx.storage.staging()
}
