//! `sendmmsg(2)`: many datagrams, to any destinations, in one system call (Linux).
//!
//! `quinn-udp` batches sends only to one destination (GSO); a discv4 node answers many peers
//! at once, so this calls the kernel directly. Everything `unsafe` is in this file.

use std::{
    io,
    mem::{self, size_of},
    net::{SocketAddr, SocketAddrV6},
    os::fd::RawFd,
};

use super::send_batch::SendBatch;

/// Datagrams per system call (the kernel takes up to `UIO_MAXIOV` = 1024).
const MAX_PER_CALL: usize = 64;

/// Sends the datagrams of `batch` from index `from` on, as many as one call takes; returns how
/// many the kernel accepted (at least one) or the error of the first one (`WouldBlock` when
/// the socket buffer is full). `ipv6_socket`: IPv4 destinations are written as IPv4-mapped
/// IPv6 addresses, which a dual-stack socket requires.
pub(super) fn send(
    fd: RawFd,
    batch: &SendBatch,
    from: usize,
    ipv6_socket: bool,
) -> io::Result<usize> {
    // SAFETY: these are plain C structs for which all-zero bytes are a valid value (null
    // pointers, zero lengths).
    let mut names: [libc::sockaddr_storage; MAX_PER_CALL] = unsafe { mem::zeroed() };
    let mut iovecs: [libc::iovec; MAX_PER_CALL] = unsafe { mem::zeroed() };
    let mut messages: [libc::mmsghdr; MAX_PER_CALL] = unsafe { mem::zeroed() };
    let mut count = 0usize;
    for (((datagram, to), (name, iovec)), message) in batch
        .datagrams()
        .skip(from)
        .zip(names.iter_mut().zip(iovecs.iter_mut()))
        .zip(messages.iter_mut())
    {
        let to = match to {
            SocketAddr::V4(v4) if ipv6_socket => {
                SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
            }
            other => other,
        };
        let name_len = write_sockaddr(name, to);
        iovec.iov_base = datagram.as_ptr() as *mut libc::c_void;
        iovec.iov_len = datagram.len();
        message.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
        message.msg_hdr.msg_namelen = name_len;
        message.msg_hdr.msg_iov = iovec;
        message.msg_hdr.msg_iovlen = 1;
        count += 1;
    }
    if count == 0 {
        return Ok(0);
    }
    // SAFETY: `messages[..count]` point into `names` and `iovecs`, which outlive the call, and
    // at `batch`'s bytes, which are borrowed for the call; the kernel only reads them (it
    // writes each `msg_len`, which is ours).
    let sent = unsafe { libc::sendmmsg(fd, messages.as_mut_ptr(), count as libc::c_uint, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// Writes `addr` as a C socket address; returns its length.
fn write_sockaddr(out: &mut libc::sockaddr_storage, addr: SocketAddr) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sockaddr_storage` is larger than and aligned for every socket address.
            unsafe {
                (out as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above.
            unsafe {
                (out as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}
