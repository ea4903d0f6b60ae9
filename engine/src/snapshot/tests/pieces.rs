//! How entries are cut into pieces: each chunk within its budget.

use super::*;

/// A list of 20,000 empty elements (several nodes, so written in pieces) is written
/// in batches that fill a piece: each chunk within its budget (a batch counts every
/// element, even one without bytes), and a few chunks in all, not one per element.
#[test]
fn a_list_of_empty_elements_is_written_in_pieces_within_the_budget() {
    const ELEMS: usize = 20_000;
    let mut dbs = fresh_dbs();
    let empty: &[u8] = b"";
    let list = List::from_elems(std::iter::repeat_n(empty, ELEMS), &ListLimits::default());
    assert!(list.node_count() > 1);
    dbs[0].insert(b"list", Value::List(Box::new(list)), NO_EXPIRE);
    let budget = 1000;
    let (file, _) = snapshot(&dbs, T0_MS, budget);
    let piece_max = budget.max(PIECE_BYTES_MIN) + 64;
    let spans = chunk_spans(&file);
    for &(at, len) in &spans {
        assert!(len <= piece_max, "chunk at {at}: {len} bytes");
    }
    // Two bytes counted per element: 4 KiB pieces of 2,048 elements.
    let pieces = ELEMS * 2 / PIECE_BYTES_MIN + 1;
    assert!(spans.len() <= 2 * pieces, "{} chunks", spans.len());
    let mut loaded = fresh_dbs();
    assert_eq!(load(&file, &mut loaded).map(|(_, n)| n), Ok(1));
    assert_eq!(contents(&loaded), contents(&dbs));
}
