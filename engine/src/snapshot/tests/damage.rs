//! Damaged snapshot files: what a reader refuses and the offsets its errors name.

use super::*;

#[test]
fn errors_name_their_offset() {
    let error = SnapshotError::ChunkChecksum { offset: 1234 };
    assert_eq!(
        error.to_string(),
        "snapshot chunk at byte 1234: checksum mismatch"
    );
}

/// The header checksum, which every chunk's checksum covers.
fn header_crc_of(file: &[u8]) -> u32 {
    u32::from_le_bytes(
        file[HEADER_CRC_AT..SNAPSHOT_HEADER_BYTES]
            .try_into()
            .expect("4 bytes"),
    )
}

/// A trailer that miscounts the entries or the chunks before it, or is longer
/// than a trailer, is refused even with a good checksum: what a writer that lost
/// a chunk, or a file spliced from two, would carry.
#[test]
fn a_resealed_trailer_that_disagrees_is_refused() {
    let mut rng = SmallRng::seed_from_u64(9);
    let dbs = small_dbs(&mut rng, 30);
    let (file, _) = snapshot(&dbs, T0_MS, 100);
    let spans = chunk_spans(&file);
    let (at, len) = *spans.last().expect("a trailer");
    assert_eq!(len, TRAILER_PAYLOAD_BYTES);
    let index = (spans.len() - 1) as u64;
    let body_at = at + SNAPSHOT_CHUNK_HEADER_BYTES + 1;
    let refused = Err(SnapshotError::BadTrailer { offset: at });
    for (field, delta) in [(0, 1), (0, u64::MAX), (8, 1), (8, u64::MAX)] {
        let mut bad = file.clone();
        let count = body_at + field..body_at + field + 8;
        let n = u64::from_le_bytes(bad[count.clone()].try_into().expect("8 bytes"));
        bad[count].copy_from_slice(&n.wrapping_add(delta).to_le_bytes());
        seal_chunk(&mut bad, at, header_crc_of(&file), index);
        assert_eq!(verify(&bad), refused, "field {field} + {delta}");
        assert_eq!(load(&bad, &mut fresh_dbs()), refused, "field {field}");
    }
    let mut longer = file.clone();
    longer.push(0);
    seal_chunk(&mut longer, at, header_crc_of(&file), index);
    assert_eq!(verify(&longer), refused);
    assert_eq!(verify(&file).map(|(_, n)| n), Ok(30));
}

/// A chunk length of 0 or above [`SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX`] is named as
/// a bad length; the largest one allowed is only cut short in a small file.
#[test]
fn chunk_lengths_out_of_bounds_are_named() {
    let (file, _) = snapshot(&fresh_dbs(), T0_MS, SNAPSHOT_CHUNK_BYTES_MAX);
    let at = SNAPSHOT_HEADER_BYTES;
    let max = u32::try_from(SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX).expect("fits");
    let with_len = |len: u32| {
        let mut bad = file.clone();
        bad[at..at + 4].copy_from_slice(&len.to_le_bytes());
        verify(&bad)
    };
    for len in [0, max + 1, u32::MAX] {
        let named = Err(SnapshotError::ChunkLength { offset: at, len });
        assert_eq!(with_len(len), named, "{len}");
    }
    assert_eq!(with_len(max), Err(SnapshotError::Truncated { offset: at }));
}
