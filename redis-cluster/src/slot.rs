//! Key slots: which of the 16384 slots a key hashes to.

/// How many slots a cluster has.
pub const SLOTS: u16 = 16384;

/// The slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag, modulo
/// 16384.
///
/// A hash tag is the part between the first `{` and the next `}`, when that
/// part is not empty: `{user:1}:cart` and `{user:1}:orders` share a slot, so
/// a command on both runs on one node.
///
/// ```
/// use redis_cluster::key_slot;
///
/// assert_eq!(key_slot(b"foo"), 12182);
/// assert_eq!(key_slot(b"{user:1}:cart"), key_slot(b"{user:1}:orders"));
/// ```
pub fn key_slot(key: &[u8]) -> u16 {
    // One pass for a key without `{`, the common case: the CRC is taken
    // while looking for the brace.
    let mut crc: u16 = 0;
    for &byte in key {
        if byte == b'{' {
            return crc16(hash_tag(key)) % SLOTS;
        }
        crc = crc16_step(crc, byte);
    }
    crc % SLOTS
}

/// The part of `key` that is hashed: its hash tag if it has a non-empty
/// one, else the whole key.
fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(0) | None => key,
        Some(close) => &rest[..close],
    }
}

/// CRC16-CCITT as XMODEM computes it (polynomial 0x1021, initial 0), the
/// one Redis Cluster specifies.
fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0, |crc, &byte| crc16_step(crc, byte))
}

/// The CRC16 of what gave `crc`, one byte more.
#[inline(always)]
fn crc16_step(crc: u16, byte: u8) -> u16 {
    (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ byte)]
}

/// The CRC16 of every byte value, computed at compile time.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_xmodem() {
        // The check value of CRC-16/XMODEM, and the example of the cluster
        // specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn slots_match_the_server() {
        // Each pair is what `CLUSTER KEYSLOT` answers (the live tests check
        // more against a real cluster).
        for (key, slot) in [
            (&b"foo"[..], 12182),
            (b"bar", 5061),
            (b"", 0),
            (b"{user1000}.following", 3443),
            (b"{user1000}.followers", 3443),
            (b"foo{}{bar}", 8363),
            (b"foo{{bar}}zap", 4015),
            (b"foo{bar}{zap}", 5061),
            (b"{}", 15257),
            (b"{", 4092),
            (b"}", 12090),
        ] {
            assert_eq!(key_slot(key), slot, "{:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn the_one_pass_agrees_with_the_tag_then_its_crc() {
        // Every key of up to six bytes of `a`, `b`, `{` and `}`.
        let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = keys
                .iter()
                .filter(|k| k.len() == keys.last().map_or(0, Vec::len))
                .flat_map(|k| {
                    b"ab{}".iter().map(move |&b| {
                        let mut k = k.clone();
                        k.push(b);
                        k
                    })
                })
                .collect();
            keys.extend(longer);
        }
        assert_eq!(keys.len(), (0..=6).map(|n| 4usize.pow(n)).sum::<usize>());
        for key in &keys {
            assert_eq!(key_slot(key), crc16(hash_tag(key)) % SLOTS, "{key:?}");
        }
    }

    #[test]
    fn hash_tags() {
        assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"no tag"), b"no tag");
        assert_eq!(hash_tag(b"open{only"), b"open{only");
    }
}
