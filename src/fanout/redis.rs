//! Redis pub/sub: a subscribed connection and a second one to PUBLISH, both to the
//! same server. With Sentinel, the master is asked of the sentinels on every
//! (re)connection, so a failover is followed on the next reconnect (the old master's
//! connections drop when it is demoted or dies).

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{Client, ConnectionInfo, RedisConnectionInfo};

use super::LinkError;

/// Where the Redis server is.
#[derive(Debug, Clone)]
pub enum RedisTarget {
    /// One server.
    Direct(ConnectionInfo),
    /// The master of `master`, as the sentinels tell.
    Sentinel {
        /// Sentinel addresses.
        sentinels: Vec<ConnectionInfo>,
        /// The monitored master's name.
        master: String,
        /// Credentials for the master.
        node: RedisConnectionInfo,
    },
}

/// A subscribed session.
pub struct RedisLink {
    sink: PubSubSink,
    stream: PubSubStream,
    publisher: MultiplexedConnection,
}

fn redis_error(e: redis::RedisError) -> LinkError {
    LinkError(e.to_string())
}

impl RedisTarget {
    async fn client(&self) -> Result<Client, LinkError> {
        match self {
            RedisTarget::Direct(info) => Client::open(info.clone()).map_err(redis_error),
            RedisTarget::Sentinel {
                sentinels,
                master,
                node,
            } => {
                let mut sentinel = Sentinel::build(sentinels.clone()).map_err(redis_error)?;
                let node =
                    SentinelNodeConnectionInfo::default().set_redis_connection_info(node.clone());
                sentinel
                    .async_master_for(master, Some(&node))
                    .await
                    .map_err(|e| LinkError(format!("master `{master}` from the sentinels: {e}")))
            }
        }
    }
}

impl RedisLink {
    /// Connects (through the sentinels, if any) and subscribes to `channel`.
    pub async fn connect(target: &RedisTarget, channel: &str) -> Result<RedisLink, LinkError> {
        let client = target.client().await?;
        let (mut sink, stream) = client
            .get_async_pubsub()
            .await
            .map_err(redis_error)?
            .split();
        sink.subscribe(channel).await.map_err(redis_error)?;
        let publisher = client
            .get_multiplexed_async_connection()
            .await
            .map_err(redis_error)?;
        Ok(RedisLink {
            sink,
            stream,
            publisher,
        })
    }

    /// The next message's payload. Cancel-safe.
    pub async fn recv(&mut self) -> Result<String, LinkError> {
        match self.stream.next().await {
            Some(msg) => msg.get_payload::<String>().map_err(redis_error),
            None => Err(LinkError("connection closed".to_owned())),
        }
    }

    /// PUBLISH `payload` on `channel`.
    pub async fn publish(&mut self, channel: &str, payload: &str) -> Result<(), LinkError> {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut self.publisher)
            .await
            .map(drop)
            .map_err(redis_error)
    }

    /// A round trip on both connections, to find a dead one.
    pub async fn ping(&mut self) -> Result<(), LinkError> {
        self.sink
            .ping::<redis::Value>()
            .await
            .map_err(redis_error)?;
        redis::cmd("PING")
            .query_async::<redis::Value>(&mut self.publisher)
            .await
            .map(drop)
            .map_err(redis_error)
    }
}
