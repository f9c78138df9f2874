//! `NETLINK_ROUTE` requests, answered from the interface model: one
//! message in, the messages that answer it out. Dumps of links,
//! addresses and routes (with Linux's strict checks when the socket asks
//! for them, `NETLINK_GET_STRICT_CHK`), one link by index or name, acks
//! and errors as Linux's `netlink_rcv_skb` and `rtnetlink_rcv_msg` give
//! them.
//!
//! Changes (`RTM_NEW*`, `RTM_DEL*`, `RTM_SET*`) are refused: `EPERM`
//! without `CAP_NET_ADMIN`, as Linux checks that first; with it,
//! `EOPNOTSUPP`, Linux's answer for an operation no handler serves (the
//! sandbox's interfaces are fixed), except for a link change that changes
//! nothing (`ip link set lo up` on a link that is up), which succeeds as
//! on Linux.

use nix::errno::Errno;

use super::consts::*;
use super::fill::{self, To};
use super::msg::{self, Builder, Message};
use crate::net::iface::consts::*;
use crate::net::iface::{Interfaces, Route};

/// Who sent a request, as far as answering it goes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Requester {
    /// The socket's port id: replies carry it.
    pub port: u32,
    /// `NETLINK_GET_STRICT_CHK`.
    pub strict: bool,
    /// `NETLINK_CAP_ACK`: errors echo only the request's header.
    pub cap_ack: bool,
    /// `CAP_NET_ADMIN`.
    pub admin: bool,
    /// A dump of this socket is still being read (`EBUSY` for another).
    pub dumping: bool,
}

/// What answers one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// One datagram: an answer, an ack or an error.
    Unicast(Vec<u8>),
    /// The messages of a dump, `NLMSG_DONE` last, for the socket to pack
    /// into datagrams as they are read; an empty one ([`BREAK`]) ends a
    /// datagram where Linux ends it.
    Dump(Vec<Vec<u8>>),
}

/// In a [`Reply::Dump`]: the next message starts a new datagram.
pub const BREAK: Vec<u8> = Vec::new();

/// What a handler produced.
enum Answer {
    Nothing,
    One(Vec<u8>),
    Dump(Vec<Vec<u8>>),
}

/// `RTM_*` kinds: the low two bits of the type, from `RTM_BASE`.
const KIND_GET: u16 = 2;

/// The answers to one request.
pub fn handle(ifs: &Interfaces, who: &Requester, m: &Message) -> Vec<Reply> {
    let h = m.header;
    // Not a request, or a control message: nothing to do but an ack.
    let result = if h.flags & NLM_F_REQUEST == 0 || h.ty < NLMSG_MIN_TYPE {
        Ok(Answer::Nothing)
    } else {
        dispatch(ifs, who, m)
    };
    match result {
        // A dump is never acked; its NLMSG_DONE ends it.
        Ok(Answer::Dump(msgs)) => vec![Reply::Dump(msgs)],
        Ok(Answer::One(reply)) if h.flags & NLM_F_ACK != 0 => {
            vec![Reply::Unicast(reply), Reply::Unicast(ack(who, m, None))]
        }
        Ok(Answer::One(reply)) => vec![Reply::Unicast(reply)],
        Ok(Answer::Nothing) if h.flags & NLM_F_ACK != 0 => vec![Reply::Unicast(ack(who, m, None))],
        Ok(Answer::Nothing) => Vec::new(),
        Err(e) => vec![Reply::Unicast(ack(who, m, Some(e)))],
    }
}

/// `NLMSG_ERROR` for `m`: an ack (`err` none) echoes the request's
/// header; an error echoes the whole request unless `NETLINK_CAP_ACK`.
pub fn ack(who: &Requester, m: &Message, err: Option<Errno>) -> Vec<u8> {
    let whole = err.is_some() && !who.cap_ack;
    let mut b = Builder::new(NLMSG_ERROR, if whole { 0 } else { NLM_F_CAPPED }, m.header.seq, who.port);
    let code = err.map_or(0, |e| -(e as i32));
    let echo = if whole { m.bytes } else { &m.bytes[..msg::HDRLEN] };
    b.bytes(&[&code.to_ne_bytes()[..], echo].concat());
    b.finish()
}

fn dispatch(ifs: &Interfaces, who: &Requester, m: &Message) -> Result<Answer, Errno> {
    let h = m.header;
    if h.ty > RTM_MAX {
        return Err(Errno::EOPNOTSUPP);
    }
    let payload = m.payload();
    // Linux needs at least the family byte, and ignores shorter ones.
    let Some(&family) = payload.first() else { return Ok(Answer::Nothing) };
    let kind = (h.ty - RTM_BASE) & 3;
    if kind != KIND_GET {
        if !who.admin {
            return Err(Errno::EPERM);
        }
        return change(ifs, m).map(|()| Answer::Nothing);
    }
    if h.flags & NLM_F_DUMP != 0 {
        if who.dumping {
            return Err(Errno::EBUSY);
        }
        let mut to = To { seq: h.seq, pid: who.port, flags: NLM_F_MULTI };
        let dumped = match h.ty {
            RTM_GETLINK => dump_links(ifs, who, payload, &mut to),
            RTM_GETADDR => dump_addrs(ifs, who, family, payload, &mut to),
            RTM_GETROUTE => dump_routes(ifs, who, family, payload, &mut to),
            // Tables the sandbox has nothing in.
            RTM_GETNEIGH | RTM_GETRULE | RTM_GETQDISC | RTM_GETNETCONF => Ok(Vec::new()),
            _ => return Err(Errno::EOPNOTSUPP),
        };
        // A request the dump refuses (strict checks) ends it at once, its
        // error in NLMSG_DONE, as Linux's dump callbacks report it.
        let mut msgs = match dumped {
            Ok(msgs) => msgs,
            Err(e) => return Ok(Answer::Dump(vec![done(to, -(e as i32))])),
        };
        // Linux ends a dump's last datagram before NLMSG_DONE, but for
        // IPv6 addresses, whose dump finishes in the same pass.
        let ipv6_addrs = h.ty == RTM_GETADDR && i32::from(family) == libc::AF_INET6;
        if !msgs.is_empty() && !ipv6_addrs {
            msgs.push(BREAK);
        }
        msgs.push(done(to, 0));
        return Ok(Answer::Dump(msgs));
    }
    match h.ty {
        RTM_GETLINK => get_link(ifs, who, m).map(Answer::One),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// `NLMSG_DONE`, ending a dump, with the dump's error (`-errno`, or 0).
fn done(to: To, code: i32) -> Vec<u8> {
    let mut b = Builder::new(NLMSG_DONE, to.flags, to.seq, to.pid);
    b.bytes(&code.to_ne_bytes());
    b.finish()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).and_then(|x| x.try_into().ok()).map_or(0, u32::from_ne_bytes)
}

/// The attributes after a fixed header of `len` bytes (none if the
/// payload is shorter).
fn attrs_after(payload: &[u8], len: usize) -> Result<Vec<(u16, &[u8])>, Errno> {
    payload.get(msg::align(len)..).map_or(Ok(Vec::new()), msg::attrs)
}

fn dump_links(ifs: &Interfaces, who: &Requester, payload: &[u8], to: &mut To) -> Result<Vec<Vec<u8>>, Errno> {
    let mut masters = false;
    if who.strict {
        // `rtnl_valid_dump_ifinfo_req`.
        if payload.len() < IFINFOMSG_LEN {
            return Err(Errno::EINVAL);
        }
        let fields_set =
            payload[1] != 0 || payload[2..4] != [0, 0] || u32_at(payload, 8) != 0 || u32_at(payload, 12) != 0;
        if fields_set || u32_at(payload, 4) != 0 {
            return Err(Errno::EINVAL);
        }
        for (ty, v) in attrs_after(payload, IFINFOMSG_LEN)? {
            match ty {
                IFLA_EXT_MASK => {}
                // No link has a master or a kind: a filter by them leaves none.
                IFLA_MASTER => masters = msg::u32_of(v)? != 0,
                IFLA_LINKINFO => masters = true,
                _ => return Err(Errno::EINVAL),
            }
        }
    }
    if masters {
        to.flags |= NLM_F_DUMP_FILTERED;
        return Ok(Vec::new());
    }
    Ok(ifs.links().map(|l| fill::link(l, *to)).collect())
}

/// The address families a dump asks for: IPv4, IPv6, or both for any
/// other (Linux's `rtnl_dump_all`).
fn families(family: u8) -> (bool, bool) {
    match i32::from(family) {
        libc::AF_INET => (true, false),
        libc::AF_INET6 => (false, true),
        _ => (true, true),
    }
}

fn dump_addrs(
    ifs: &Interfaces,
    who: &Requester,
    family: u8,
    payload: &[u8],
    to: &mut To,
) -> Result<Vec<Vec<u8>>, Errno> {
    let mut index = 0;
    if who.strict {
        // `inet_valid_dump_ifaddr_req`.
        if payload.len() < IFADDRMSG_LEN || payload[1..4] != [0, 0, 0] {
            return Err(Errno::EINVAL);
        }
        index = u32_at(payload, 4) as i32;
        if !attrs_after(payload, IFADDRMSG_LEN)?.is_empty() {
            return Err(Errno::EINVAL);
        }
        if index != 0 {
            to.flags |= NLM_F_DUMP_FILTERED;
            if ifs.link(index).is_none() {
                return Err(Errno::ENODEV);
            }
        }
    }
    let (v4, v6) = families(family);
    Ok(ifs
        .addrs()
        .filter(|a| if a.ip.is_ipv4() { v4 } else { v6 })
        .filter(|a| index == 0 || a.index == index)
        .map(|a| fill::address(a, *to))
        .collect())
}

/// The filters of a strict route dump.
#[derive(Default)]
struct RouteFilter {
    table: u32,
    protocol: u8,
    kind: u8,
    oif: i32,
}

impl RouteFilter {
    fn keeps(&self, r: &Route) -> bool {
        (self.table == 0 || r.table == self.table)
            && (self.protocol == 0 || r.protocol == self.protocol)
            && (self.kind == 0 || r.kind == self.kind)
            && (self.oif == 0 || r.oif == self.oif)
    }
}

/// `RTM_F_CLONED` and `RTM_F_PREFIX`, the flags a dump request may carry.
const RTM_F_DUMP_FLAGS: u32 = 0x200 | 0x800;

fn dump_routes(
    ifs: &Interfaces,
    who: &Requester,
    family: u8,
    payload: &[u8],
    to: &mut To,
) -> Result<Vec<Vec<u8>>, Errno> {
    let mut filter = RouteFilter::default();
    if who.strict {
        // `ip_valid_fib_dump_req`.
        if payload.len() < RTMSG_LEN || payload[1..4] != [0, 0, 0] || payload[6] != 0 {
            return Err(Errno::EINVAL);
        }
        if u32_at(payload, 8) & !RTM_F_DUMP_FLAGS != 0 {
            return Err(Errno::EINVAL);
        }
        filter.table = u32::from(payload[4]);
        filter.protocol = payload[5];
        filter.kind = payload[7];
        for (ty, v) in attrs_after(payload, RTMSG_LEN)? {
            match ty {
                RTA_TABLE => filter.table = msg::u32_of(v)?,
                RTA_OIF => filter.oif = msg::u32_of(v)? as i32,
                _ => return Err(Errno::EINVAL),
            }
        }
        if filter.table != 0 || filter.protocol != 0 || filter.kind != 0 || filter.oif != 0 {
            to.flags |= NLM_F_DUMP_FILTERED;
        }
        if filter.oif != 0 && ifs.link(filter.oif).is_none() {
            return Err(Errno::ENODEV);
        }
    }
    let (v4, v6) = families(family);
    Ok(ifs
        .routes()
        .filter(|r| if r.dst.is_ipv4() { v4 } else { v6 })
        .filter(|r| filter.keeps(r))
        .map(|r| fill::route(r, *to))
        .collect())
}

/// `RTM_GETLINK` of one link, by index or else by name.
fn get_link(ifs: &Interfaces, who: &Requester, m: &Message) -> Result<Vec<u8>, Errno> {
    let payload = m.payload();
    if payload.len() < IFINFOMSG_LEN {
        return Err(Errno::EINVAL);
    }
    let attrs = attrs_after(payload, IFINFOMSG_LEN)?;
    if who.strict {
        // `rtnl_valid_getlink_req`.
        let fields_set =
            payload[1] != 0 || payload[2..4] != [0, 0] || u32_at(payload, 8) != 0 || u32_at(payload, 12) != 0;
        let known = |t: u16| matches!(t, IFLA_IFNAME | IFLA_ALT_IFNAME | IFLA_EXT_MASK);
        if fields_set || attrs.iter().any(|(t, _)| !known(*t)) {
            return Err(Errno::EINVAL);
        }
    }
    let index = u32_at(payload, 4) as i32;
    let name = msg::find(&attrs, IFLA_IFNAME).or_else(|| msg::find(&attrs, IFLA_ALT_IFNAME));
    let link = match (index, name) {
        (i, _) if i > 0 => ifs.link(i),
        (_, Some(n)) => ifs.link_by_name(msg::str_of(n)),
        _ => return Err(Errno::EINVAL),
    };
    let link = link.ok_or(Errno::ENODEV)?;
    Ok(fill::link(link, To { seq: m.header.seq, pid: who.port, flags: 0 }))
}

/// The device flags a link change may set (Linux's `dev_change_flags`).
const CHANGEABLE: u32 = IFF_UP | IFF_PROMISC | IFF_ALLMULTI | IFF_NOARP | IFF_MULTICAST;

/// A change (the caller may make changes): succeeds only if it changes
/// nothing.
fn change(ifs: &Interfaces, m: &Message) -> Result<(), Errno> {
    let h = m.header;
    let payload = m.payload();
    const RTM_SETLINK: u16 = 19;
    if !(h.ty == RTM_NEWLINK || h.ty == RTM_SETLINK) || payload.len() < IFINFOMSG_LEN {
        return Err(Errno::EOPNOTSUPP);
    }
    let attrs = attrs_after(payload, IFINFOMSG_LEN)?;
    let index = u32_at(payload, 4) as i32;
    let name = msg::find(&attrs, IFLA_IFNAME).map(msg::str_of);
    let link = match (index, name) {
        (i, _) if i > 0 => ifs.link(i),
        (_, Some(n)) => ifs.link_by_name(n),
        _ => None,
    };
    let Some(link) = link else {
        // A new link (NLM_F_CREATE) or one that does not exist.
        return Err(if h.ty == RTM_NEWLINK { Errno::EOPNOTSUPP } else { Errno::ENODEV });
    };
    let (flags, mask) = (u32_at(payload, 8), u32_at(payload, 12));
    let wanted = match (flags, mask) {
        (0, 0) => link.flags,
        (f, 0) => f,
        (f, c) => (f & c) | (link.flags & !c),
    };
    let same_flags = wanted & CHANGEABLE == link.flags & CHANGEABLE;
    let same_attrs = attrs.iter().all(|&(ty, v)| match ty {
        IFLA_IFNAME => msg::str_of(v) == link.name.as_bytes(),
        IFLA_MTU => msg::u32_of(v) == Ok(link.mtu),
        IFLA_TXQLEN => msg::u32_of(v) == Ok(link.txqlen),
        IFLA_EXT_MASK => true,
        _ => false,
    });
    if same_flags && same_attrs { Ok(()) } else { Err(Errno::EOPNOTSUPP) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netlink::msg::{Header, attrs, find, messages, str_of};

    const LINKS_DUMP: u16 = NLM_F_REQUEST | NLM_F_DUMP;
    const NLMSG_NOOP: u16 = 1;

    fn request(ty: u16, flags: u16, fixed: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut b = Builder::new(ty, flags, 5, 0);
        b.bytes(fixed);
        for (t, v) in attrs {
            b.attr(*t, v);
        }
        b.finish()
    }

    fn answer(ifs: &Interfaces, who: &Requester, req: &[u8]) -> Vec<Reply> {
        let m = messages(req).next().expect("a message");
        handle(ifs, who, &m)
    }

    /// The messages of a lone dump, without its breaks.
    fn dump(replies: Vec<Reply>) -> Vec<Vec<u8>> {
        match <[Reply; 1]>::try_from(replies) {
            Ok([Reply::Dump(msgs)]) => msgs.into_iter().filter(|m| !m.is_empty()).collect(),
            other => panic!("not one dump: {other:?}"),
        }
    }

    /// The error a dump ended with at once, in its NLMSG_DONE.
    fn dump_error(replies: Vec<Reply>) -> (i32, u16) {
        let msgs = dump(replies);
        assert_eq!(msgs.len(), 1);
        let h = Header::parse(&msgs[0]).unwrap();
        assert_eq!(h.ty, NLMSG_DONE);
        (-i32::from_ne_bytes(msgs[0][16..20].try_into().unwrap()), h.flags)
    }

    /// The errno of a lone NLMSG_ERROR reply (0 for an ack).
    fn error_of(replies: &[Reply]) -> i32 {
        let [Reply::Unicast(m)] = replies else { panic!("not one datagram: {replies:?}") };
        assert_eq!(Header::parse(m).unwrap().ty, NLMSG_ERROR);
        -i32::from_ne_bytes(m[16..20].try_into().unwrap())
    }

    const WHO: Requester =
        Requester { port: 99, strict: false, cap_ack: false, admin: false, dumping: false };

    #[test]
    fn a_glibc_style_link_dump_lists_every_link_then_done() {
        let ifs = Interfaces::slirp();
        // glibc sends a bare rtgenmsg.
        let msgs = dump(answer(&ifs, &WHO, &request(RTM_GETLINK, LINKS_DUMP, &[0], &[])));
        let kinds: Vec<(u16, u16, u32, u32)> =
            msgs.iter().map(|m| Header::parse(m).unwrap()).map(|h| (h.ty, h.flags, h.seq, h.pid)).collect();
        assert_eq!(
            kinds,
            [
                (RTM_NEWLINK, NLM_F_MULTI, 5, 99),
                (RTM_NEWLINK, NLM_F_MULTI, 5, 99),
                (NLMSG_DONE, NLM_F_MULTI, 5, 99)
            ]
        );
        assert_eq!(msgs[2].len(), 20);
    }

    #[test]
    fn address_dumps_follow_the_family() {
        let ifs = Interfaces::loopback();
        let count = |family: i32| {
            dump(answer(&ifs, &WHO, &request(RTM_GETADDR, LINKS_DUMP, &[family as u8], &[]))).len() - 1
        };
        assert_eq!((count(libc::AF_UNSPEC), count(libc::AF_INET), count(libc::AF_INET6)), (2, 1, 1));
        assert_eq!(count(libc::AF_PACKET), 2);
        let v6 = dump(answer(&ifs, &WHO, &request(RTM_GETADDR, LINKS_DUMP, &[libc::AF_INET6 as u8], &[])));
        assert_eq!(&v6[0][16..24], &[10, 128, 0x80, 254, 1, 0, 0, 0]);
        let a = attrs(&v6[0][24..]).unwrap();
        assert_eq!(find(&a, IFA_ADDRESS).unwrap(), std::net::Ipv6Addr::LOCALHOST.octets());
    }

    #[test]
    fn strict_dumps_check_headers_and_filter() {
        let ifs = Interfaces::slirp();
        let strict = Requester { strict: true, ..WHO };
        // A short header is refused in strict mode only, in NLMSG_DONE.
        let short = request(RTM_GETLINK, LINKS_DUMP, &[0], &[]);
        assert_eq!(dump_error(answer(&ifs, &strict, &short)), (libc::EINVAL, NLM_F_MULTI));
        let mask = 1u32.to_ne_bytes();
        let ok = request(RTM_GETLINK, LINKS_DUMP, &[0; 16], &[(IFLA_EXT_MASK, &mask)]);
        assert_eq!(dump(answer(&ifs, &strict, &ok)).len(), 3);
        let bad_attr = request(RTM_GETLINK, LINKS_DUMP, &[0; 16], &[(IFLA_MTU, &mask)]);
        assert_eq!(dump_error(answer(&ifs, &strict, &bad_attr)).0, libc::EINVAL);
        // Addresses of one link.
        let mut hdr = [0u8; 8];
        hdr[4] = 2;
        let msgs = dump(answer(&ifs, &strict, &request(RTM_GETADDR, LINKS_DUMP, &hdr, &[])));
        assert_eq!(msgs.len(), 2);
        assert_eq!(Header::parse(&msgs[1]).unwrap().flags, NLM_F_MULTI | NLM_F_DUMP_FILTERED);
        hdr[4] = 9;
        let filtered = NLM_F_MULTI | NLM_F_DUMP_FILTERED;
        let missing = answer(&ifs, &strict, &request(RTM_GETADDR, LINKS_DUMP, &hdr, &[]));
        assert_eq!(dump_error(missing), (libc::ENODEV, filtered));
        // The main table, as `ip route` asks for it.
        let main = 254u32.to_ne_bytes();
        let req =
            request(RTM_GETROUTE, LINKS_DUMP, &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[(RTA_TABLE, &main)]);
        let msgs = dump(answer(&ifs, &strict, &req));
        assert_eq!(msgs.len(), 3);
        let gw = attrs(&msgs[0][28..]).unwrap();
        assert_eq!(find(&gw, RTA_GATEWAY).unwrap(), [10, 0, 2, 2]);
        // Without strict checks, every table.
        let all = dump(answer(&ifs, &WHO, &request(RTM_GETROUTE, LINKS_DUMP, &[2], &[])));
        assert_eq!(all.len(), 2 + 5 + 1);
    }

    #[test]
    fn one_link_by_index_or_name_with_an_ack() {
        let ifs = Interfaces::slirp();
        let mut hdr = [0u8; 16];
        hdr[4] = 2;
        let replies = answer(&ifs, &WHO, &request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, &hdr, &[]));
        let [Reply::Unicast(link), Reply::Unicast(ack)] = &replies[..] else { panic!("{replies:?}") };
        assert_eq!(Header::parse(link).unwrap().flags, 0);
        assert_eq!(str_of(find(&attrs(&link[32..]).unwrap(), IFLA_IFNAME).unwrap()), b"eth0");
        let h = Header::parse(ack).unwrap();
        assert_eq!((h.ty, h.flags, h.len), (NLMSG_ERROR, NLM_F_CAPPED, 36));
        assert_eq!(&ack[16..20], &[0; 4]);
        let by_name = request(RTM_GETLINK, NLM_F_REQUEST, &[0; 16], &[(IFLA_IFNAME, b"lo\0")]);
        let [Reply::Unicast(lo)] = &answer(&ifs, &WHO, &by_name)[..] else { panic!() };
        assert_eq!(i32::from_ne_bytes(lo[20..24].try_into().unwrap()), 1);
        let missing = request(RTM_GETLINK, NLM_F_REQUEST, &[0; 16], &[(IFLA_IFNAME, b"eth9\0")]);
        assert_eq!(error_of(&answer(&ifs, &WHO, &missing)), libc::ENODEV);
        assert_eq!(
            error_of(&answer(&ifs, &WHO, &request(RTM_GETLINK, NLM_F_REQUEST, &[0; 16], &[]))),
            libc::EINVAL
        );
        // A header too short for an ifinfomsg: EINVAL, the request echoed.
        let short = request(RTM_GETLINK, NLM_F_REQUEST, &[0; 4], &[]);
        let replies = answer(&ifs, &WHO, &short);
        assert_eq!(error_of(&replies), libc::EINVAL);
        let [Reply::Unicast(e)] = &replies[..] else { panic!() };
        assert_eq!(&e[20..], &short[..]);
    }

    #[test]
    fn changes_need_the_capability_and_are_not_supported() {
        let ifs = Interfaces::loopback();
        let admin = Requester { admin: true, ..WHO };
        let v4 = [2, 8, 0, 0, 1, 0, 0, 0];
        let add = request(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK, &v4, &[(IFA_LOCAL, &[127, 0, 0, 2])]);
        assert_eq!(error_of(&answer(&ifs, &WHO, &add)), libc::EPERM);
        assert_eq!(error_of(&answer(&ifs, &admin, &add)), libc::EOPNOTSUPP);
        // `ip link set lo up` on a link that is up changes nothing.
        let mut up = [0u8; 16];
        up[4] = 1;
        up[8] = 1;
        up[12] = 1;
        let set = request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, &up, &[]);
        assert_eq!(error_of(&answer(&ifs, &WHO, &set)), libc::EPERM);
        assert_eq!(error_of(&answer(&ifs, &admin, &set)), 0);
        up[8] = 0;
        let down = request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, &up, &[]);
        assert_eq!(error_of(&answer(&ifs, &admin, &down)), libc::EOPNOTSUPP);
    }

    #[test]
    fn odd_requests_are_answered_as_linux_does() {
        let ifs = Interfaces::loopback();
        // No NLM_F_REQUEST, or a control type: only an ack, if asked.
        assert!(answer(&ifs, &WHO, &request(RTM_GETLINK, 0, &[0; 16], &[])).is_empty());
        assert_eq!(
            error_of(&answer(&ifs, &WHO, &request(NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, &[], &[]))),
            0
        );
        // Unknown types, and dumps of what has no dump.
        assert_eq!(error_of(&answer(&ifs, &WHO, &request(200, NLM_F_REQUEST, &[0], &[]))), libc::EOPNOTSUPP);
        assert_eq!(
            error_of(&answer(&ifs, &WHO, &request(RTM_GETADDR, NLM_F_REQUEST, &[0; 8], &[]))),
            libc::EOPNOTSUPP
        );
        assert_eq!(dump(answer(&ifs, &WHO, &request(RTM_GETNEIGH, LINKS_DUMP, &[0], &[]))).len(), 1);
        // A second dump while one is read.
        let busy = Requester { dumping: true, ..WHO };
        assert_eq!(error_of(&answer(&ifs, &busy, &request(RTM_GETLINK, LINKS_DUMP, &[0], &[]))), libc::EBUSY);
        // An empty payload is ignored; an overrunning attribute is EINVAL.
        assert!(answer(&ifs, &WHO, &request(RTM_GETLINK, LINKS_DUMP, &[], &[])).is_empty());
        let mut bad = request(RTM_GETLINK, NLM_F_REQUEST, &[0; 16], &[(IFLA_IFNAME, b"lo\0")]);
        bad[32] = 60;
        assert_eq!(error_of(&answer(&ifs, &WHO, &bad)), libc::EINVAL);
        // NETLINK_CAP_ACK: an error echoes the header only.
        let capped = Requester { cap_ack: true, ..WHO };
        let replies = answer(&ifs, &capped, &bad);
        let [Reply::Unicast(e)] = &replies[..] else { panic!() };
        assert_eq!(e.len(), 36);
        assert_eq!(Header::parse(e).unwrap().flags, NLM_F_CAPPED);
    }
}
