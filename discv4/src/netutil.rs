//! IP address classification: LAN, special-purpose networks, relay checks, netrestrict.
