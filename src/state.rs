//! What HTTP handlers need, built once by `startup` and cloned into each worker: the
//! service [`Context`] and the socket hub (which only the `/socket.io/` route and the
//! shutdown use). Services never see the hub.

use std::ops::Deref;

use crate::service::Context;
use crate::shutdown::ShutdownListener;
use crate::socket::Hub;

/// Shared state of the HTTP side.
#[derive(Debug, Clone)]
pub struct AppState {
    /// What services work with.
    pub ctx: Context,
    /// Socket.IO hub (runners connected at `/socket.io/`).
    pub hub: Hub,
    /// Hears the shutdown: long-lived responses (event streams) end with it.
    pub shutdown: ShutdownListener,
}

/// Handlers hand `&state` to services, which take the [`Context`].
impl Deref for AppState {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}
