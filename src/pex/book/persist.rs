//! The book's file in the data directory, `pex-book.bin`: an RLP snapshot (format version,
//! placement secret, save time, entries, bans) in a sealed file (keccak checksum, atomic
//! write). Times are stored as Unix seconds and turned back into instants on load. Records
//! are verified again when loaded; an entry whose record does not verify is dropped. A
//! damaged file is set aside and the book starts empty (and with a new secret).

use std::{
    collections::HashMap,
    net::IpAddr,
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy_rlp::{Decodable, Encodable, Header};
use bytes::{BufMut, Bytes, BytesMut};
use enode::{enr_peer_id, enr_to_node_record, Enr, PeerId};
use rand::{rngs::StdRng, SeedableRng};
use tokio::time::Instant;

use super::{
    bans::{Ban, BanReason},
    entry::{Entry, Table},
    group::Group,
    AddressBook, BookConfig,
};
use crate::{
    pex::{api::PersistError, config::BookContext},
    sealed_file::{SealedFile, SealedFileError},
};

/// The book's file name inside the data directory.
pub const BOOK_FILE: &str = "pex-book.bin";
const FORMAT_VERSION: u64 = 1;
/// Far above a full book (20,480 entries of at most ~500 bytes, 4,096 bans).
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// The book's file could not be read, or was damaged and set aside.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BookFileError(#[from] SealedFileError);

/// Instants and Unix seconds, anchored at one moment.
struct Clock {
    now: Instant,
    unix: u64,
}

impl Clock {
    fn new(now: Instant) -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self { now, unix }
    }

    fn to_unix(&self, at: Instant) -> u64 {
        if at <= self.now {
            self.unix
                .saturating_sub(self.now.saturating_duration_since(at).as_secs())
        } else {
            self.unix
                .saturating_add(at.saturating_duration_since(self.now).as_secs())
        }
    }

    fn option_to_unix(&self, at: Option<Instant>) -> u64 {
        at.map_or(0, |at| self.to_unix(at).max(1))
    }

    /// The instant of Unix time `secs`; times before this process's clock can represent are
    /// clamped to the earliest it can.
    fn to_instant(&self, secs: u64) -> Instant {
        if secs >= self.unix {
            return self.now + Duration::from_secs((secs - self.unix).min(365 * 86_400));
        }
        let mut back = Duration::from_secs(self.unix - secs);
        loop {
            if let Some(at) = self.now.checked_sub(back) {
                return at;
            }
            if back.is_zero() {
                return self.now;
            }
            back /= 2;
        }
    }

    fn option_to_instant(&self, secs: u64) -> Option<Instant> {
        (secs != 0).then(|| self.to_instant(secs))
    }
}

pub(super) fn open(
    config: BookConfig,
    context: &BookContext<'_>,
    datadir: &Path,
) -> Result<(AddressBook, Option<BookFileError>), BookFileError> {
    let file = SealedFile::new(datadir.join(BOOK_FILE), MAX_BODY);
    let now = Instant::now();
    let (mut book, damage) = match file.load(decode) {
        Ok(Some(saved)) => (restore(config, context, saved, now), None),
        Ok(None) => (AddressBook::in_memory(config, context), None),
        Err(damaged @ SealedFileError::Damaged { .. }) => (
            AddressBook::in_memory(config, context),
            Some(BookFileError(damaged)),
        ),
        Err(other) => return Err(BookFileError(other)),
    };
    book.file = Some(file);
    Ok((book, damage))
}

/// The book saved in `datadir`, without touching the file (a damaged one is an error);
/// `None` when there is none.
pub(super) fn read(
    config: BookConfig,
    context: &BookContext<'_>,
    datadir: &Path,
) -> Result<Option<AddressBook>, BookFileError> {
    let file = SealedFile::new(datadir.join(BOOK_FILE), MAX_BODY);
    let saved = file.read(decode)?;
    Ok(saved.map(|saved| restore(config, context, saved, Instant::now())))
}

pub(super) fn save(book: &AddressBook, now: Instant) -> Result<(), PersistError> {
    let Some(file) = &book.file else {
        return Ok(());
    };
    file.save(encode(book, now)).map_err(|error| match error {
        SealedFileError::Write { path, source } | SealedFileError::Read { path, source } => {
            PersistError { path, source }
        }
        SealedFileError::Damaged { path, why, .. } | SealedFileError::Invalid { path, why } => {
            PersistError {
                path,
                source: std::io::Error::other(why),
            }
        }
    })
}

fn list(out: &mut BytesMut, body: &[u8]) {
    Header {
        list: true,
        payload_length: body.len(),
    }
    .encode(out);
    out.put_slice(body);
}

fn encode(book: &AddressBook, now: Instant) -> Vec<u8> {
    let clock = Clock::new(now);
    // Which new buckets hold each entry, so a reload puts it back in the same ones.
    let mut new_buckets: HashMap<PeerId, Vec<u64>> = HashMap::new();
    for bucket in 0..book.tables.sizes().new_buckets {
        for id in book.tables.new_bucket_ids(bucket) {
            new_buckets.entry(*id).or_default().push(bucket as u64);
        }
    }
    let mut entries = BytesMut::new();
    for e in book.entries.values() {
        let mut item = BytesMut::new();
        e.record.encode(&mut item);
        e.source.0.encode(&mut item);
        e.source_group.as_bytes().encode(&mut item);
        clock.to_unix(e.first_seen).encode(&mut item);
        clock.to_unix(e.last_seen).encode(&mut item);
        clock.option_to_unix(e.last_attempt).encode(&mut item);
        clock.option_to_unix(e.last_success).encode(&mut item);
        clock.option_to_unix(e.verified_at).encode(&mut item);
        u64::from(e.failures).encode(&mut item);
        clock.to_unix(e.eligible_at.max(now)).encode(&mut item);
        u64::from(e.table == Table::Tried).encode(&mut item);
        u64::from(e.from_private).encode(&mut item);
        clock.option_to_unix(e.incompatible_until).encode(&mut item);
        let buckets: Vec<u64> = new_buckets.get(&e.id()).cloned().unwrap_or_default();
        buckets.encode(&mut item);
        list(&mut entries, &item);
    }
    let mut bans = BytesMut::new();
    for (id, ban) in book.bans.iter() {
        let mut item = BytesMut::new();
        id.0.encode(&mut item);
        clock.to_unix(ban.until).encode(&mut item);
        u64::from(ban.reason.code()).encode(&mut item);
        u64::from(ban.count).encode(&mut item);
        let ip: Vec<u8> = match ban.ip {
            None => Vec::new(),
            Some(IpAddr::V4(v4)) => v4.octets().to_vec(),
            Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
        };
        ip.as_slice().encode(&mut item);
        list(&mut bans, &item);
    }
    let mut body = BytesMut::new();
    FORMAT_VERSION.encode(&mut body);
    book.tables.secret().encode(&mut body);
    clock.unix.encode(&mut body);
    list(&mut body, &entries);
    list(&mut body, &bans);
    let mut out = BytesMut::with_capacity(body.len() + 9);
    list(&mut out, &body);
    out.to_vec()
}

/// A decoded file, before it becomes a book.
pub(super) struct Saved {
    secret: [u8; 32],
    entries: Vec<SavedEntry>,
    bans: Vec<(PeerId, SavedBan)>,
}

struct SavedEntry {
    record: Enr,
    source: PeerId,
    source_group: Group,
    /// First seen, last seen, last attempt, last success, verified, eligible.
    times: [u64; 6],
    failures: u32,
    tried: bool,
    from_private: bool,
    incompatible_until: u64,
    new_buckets: Vec<u64>,
}

struct SavedBan {
    until: u64,
    reason: BanReason,
    count: u32,
    ip: Option<IpAddr>,
}

fn enter_list<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let header = Header::decode(buf).map_err(|e| e.to_string())?;
    if !header.list {
        return Err("expected a list".into());
    }
    if header.payload_length > buf.len() {
        return Err("list longer than the file".into());
    }
    let (inner, rest) = buf.split_at(header.payload_length);
    *buf = rest;
    Ok(inner)
}

fn field<T: Decodable>(buf: &mut &[u8], what: &str) -> Result<T, String> {
    T::decode(buf).map_err(|e| format!("{what}: {e}"))
}

fn decode(bytes: &[u8]) -> Result<Saved, String> {
    let mut outer = bytes;
    let mut body = enter_list(&mut outer)?;
    let version: u64 = field(&mut body, "version")?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        ));
    }
    let secret: [u8; 32] = field(&mut body, "secret")?;
    // The save time is written for people reading the file; loading does not need it.
    let _saved_at: u64 = field(&mut body, "save time")?;
    let mut entry_list = enter_list(&mut body)?;
    let mut entries = Vec::new();
    while !entry_list.is_empty() {
        let mut item = enter_list(&mut entry_list)?;
        // A record that no longer verifies is dropped, the rest of the book is kept.
        let record = Enr::decode(&mut item).ok();
        let source = PeerId(field(&mut item, "source")?);
        let group: [u8; 6] = field(&mut item, "source group")?;
        let mut times = [0u64; 6];
        for slot in times.iter_mut().take(5) {
            *slot = field(&mut item, "entry times")?;
        }
        let failures: u64 = field(&mut item, "failures")?;
        times[5] = field(&mut item, "eligible")?;
        let tried: u64 = field(&mut item, "table")?;
        let from_private: u64 = field(&mut item, "flags")?;
        let incompatible_until: u64 = field(&mut item, "incompatible")?;
        let new_buckets: Vec<u64> = field(&mut item, "new buckets")?;
        if new_buckets.len() > usize::from(u8::MAX) {
            return Err("an entry in too many buckets".into());
        }
        if let Some(record) = record {
            entries.push(SavedEntry {
                record,
                source,
                source_group: Group::from_bytes(group),
                times,
                failures: u32::try_from(failures).unwrap_or(u32::MAX),
                tried: tried == 1,
                from_private: from_private == 1,
                incompatible_until,
                new_buckets,
            });
        }
    }
    let mut ban_list = enter_list(&mut body)?;
    let mut bans = Vec::new();
    while !ban_list.is_empty() {
        let mut item = enter_list(&mut ban_list)?;
        let id = PeerId(field(&mut item, "banned id")?);
        let until: u64 = field(&mut item, "ban end")?;
        let reason: u64 = field(&mut item, "ban reason")?;
        let count: u64 = field(&mut item, "ban count")?;
        let ip: Bytes = field(&mut item, "ban ip")?;
        let ip = match ip.len() {
            0 => None,
            4 => <[u8; 4]>::try_from(&ip[..]).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(&ip[..]).ok().map(IpAddr::from),
            n => return Err(format!("a {n}-byte banned IP")),
        };
        let reason = u8::try_from(reason)
            .ok()
            .and_then(BanReason::from_code)
            .ok_or_else(|| format!("unknown ban reason {reason}"))?;
        bans.push((
            id,
            SavedBan {
                until,
                reason,
                count: u32::try_from(count).unwrap_or(u32::MAX),
                ip,
            },
        ));
    }
    Ok(Saved {
        secret,
        entries,
        bans,
    })
}

/// The book a decoded file describes, placed with its saved secret.
fn restore(
    config: BookConfig,
    context: &BookContext<'_>,
    saved: Saved,
    now: Instant,
) -> AddressBook {
    let clock = Clock::new(now);
    let mut book = AddressBook::with_secret(config, context, saved.secret, StdRng::from_entropy());
    for (id, ban) in saved.bans {
        book.bans.restore(
            id,
            Ban {
                until: clock.to_instant(ban.until),
                reason: ban.reason,
                count: ban.count,
                ip: ban.ip,
            },
        );
    }
    for saved in saved.entries {
        let (Ok(id), Ok(node)) = (
            enr_peer_id(&saved.record),
            enr_to_node_record(&saved.record),
        ) else {
            continue;
        };
        if Some(id) == book.local || book.entries.contains_key(&id) || book.bans.is_banned(&id, now)
        {
            continue;
        }
        let [first_seen, last_seen, last_attempt, last_success, verified, eligible] = saved.times;
        let mut entry = Entry::new(saved.record, node, saved.source, saved.source_group, now);
        entry.first_seen = clock.to_instant(first_seen);
        entry.last_seen = clock.to_instant(last_seen);
        entry.last_attempt = clock.option_to_instant(last_attempt);
        entry.last_success = clock.option_to_instant(last_success);
        entry.verified_at = clock.option_to_instant(verified);
        entry.failures = saved.failures;
        entry.eligible_at = clock.to_instant(eligible);
        entry.from_private = saved.from_private || book.private.contains(&id);
        entry.incompatible_until = clock.option_to_instant(saved.incompatible_until);
        book.place_restored(entry, saved.tried, &saved.new_buckets, now);
    }
    book
}

impl AddressBook {
    /// Puts a loaded entry back where it was: its tried bucket, or the new buckets it was
    /// saved in (its first source's bucket when those are gone, e.g. after a change of
    /// table sizes).
    fn place_restored(&mut self, mut entry: Entry, tried: bool, buckets: &[u64], now: Instant) {
        let id = entry.id();
        if tried {
            let bucket = self.tables.tried_bucket(&id, entry.group);
            if !self.tables.tried_is_full(bucket) {
                self.tables.add_tried(bucket, id);
                entry.table = Table::Tried;
                entry.new_refs = 0;
                self.entries.insert(id, entry);
                return;
            }
        }
        let (per_ip, per_subnet) = self.cap_counts(entry.node.address);
        if per_ip >= self.config.per_ip || per_subnet >= self.config.per_subnet {
            return;
        }
        let mut refs = 0u8;
        for bucket in buckets {
            let Ok(bucket) = usize::try_from(*bucket) else {
                continue;
            };
            if refs < self.config.max_new_refs
                && bucket < self.tables.sizes().new_buckets
                && !self.tables.new_is_full(bucket)
                && self.tables.add_new(bucket, id)
            {
                refs += 1;
            }
        }
        if refs == 0 {
            self.insert_new(entry, now);
            return;
        }
        entry.table = Table::New;
        entry.new_refs = refs;
        self.count_new(entry.node.address, 1);
        self.entries.insert(id, entry);
    }

    /// The bytes [`PexBook::persist`](crate::pex::PexBook::persist) writes (tests).
    #[cfg(test)]
    pub(super) fn encoded(&self, now: Instant) -> Vec<u8> {
        encode(self, now)
    }

    #[cfg(test)]
    pub(super) fn decoded(
        config: BookConfig,
        context: &BookContext<'_>,
        bytes: &[u8],
        now: Instant,
    ) -> Result<Self, String> {
        decode(bytes).map(|saved| restore(config, context, saved, now))
    }
}
