//! Histories: what resumable streams and feeds keep of their packets, and the
//! one mechanism both keep it with.
//!
//! A history is a run of numbered [`Packet`]s: 1, 2, 3, … with no gaps, each
//! a typed record (its number, its kind, its JSON, when it was sent), never
//! text to sniff. A resumable stream is a history with one producer (a lease
//! and a grace period, see [`resume`](crate::resume)); a feed is a history
//! with many readers and a retention window (see [`feed`](crate::feed)).
//!
//! * **Epoch.** A history has an identity, its epoch: a resumable stream's
//!   id, a feed's epoch. A resume point `<epoch>.<n>` names packet `n` of
//!   that history and of no other, so a number never names two packets: a
//!   history begun anew takes a new epoch.
//! * **Bounds.** A history keeps its latest packets within bounds, by count,
//!   bytes and age, letting the oldest go first; what is kept is always a run
//!   without gaps ending at the last packet. A reader that asks for a packet
//!   no longer kept is told so (`410 Gone` on the wire), never handed a
//!   stream with a hole.
//! * **Loss.** A store can lose what it held (a Redis restarted empty, keys
//!   evicted, a failover before a write reached the replica). Readers notice
//!   (the epoch gone or changed, the counter behind what they had) and end
//!   with an error packet saying the history was lost, never a silent gap.
//!
//! Histories are kept in memory (a [`MemoryStore`](crate::resume::MemoryStore)'s
//! streams, a feed's window) or in Redis (feature `redis`: a `RedisStore`'s
//! streams, `Feed::redis`), where every history has the same layout, one
//! append script, one entry codec (a damaged entry is a typed
//! `CorruptEntry`) and one way for readers to wait for appends.
//!
//! ```
//! use rivulet::history::Packet;
//! use rivulet::protocol::PacketKind;
//! use rivulet::resume::{MemoryStore, Store, StoreError, StreamId};
//! use serde_json::value::to_raw_value;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StoreError> {
//! // A history that keeps its last 2 packets.
//! let store = MemoryStore::new().max_packets_per_stream(2);
//! let id = StreamId::random();
//! let hour = Duration::from_secs(3600);
//! store.create(id, None, hour, hour).await?;
//! for n in 1..=3u64 {
//!     let packet = Packet::new(n, PacketKind::Progress, to_raw_value(&n).unwrap());
//!     store.append(id, packet).await?;
//! }
//! // Packets 2 and 3 are kept: a reader that had packet 1 gets them…
//! let read = store.read(id, 1, 10, Duration::ZERO).await?;
//! assert_eq!(read.iter().map(|p| p.seq).collect::<Vec<_>>(), [2, 3]);
//! // …and one that missed packet 1 is told it is gone.
//! let gone = store.read(id, 0, 10, Duration::ZERO).await;
//! assert!(matches!(gone, Err(StoreError::Evicted { first_kept: 2 })));
//! # Ok(()) }
//! ```

#[cfg(feature = "redis")]
pub(crate) mod append;
#[cfg(feature = "redis")]
mod entry;
pub(crate) mod kept;
mod packet;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "redis")]
pub(crate) mod wakeup;

#[cfg(feature = "redis")]
pub use entry::CorruptEntry;
pub use packet::Packet;
