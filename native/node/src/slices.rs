//! Caller-owned typed arrays written by the engine. N-API hands over raw views of JavaScript
//! memory, and nothing stops a caller from passing one buffer twice (say `out.cents` and
//! `out.packetIds` as views of one ArrayBuffer). Two Rust slices over the same bytes, one of them
//! mutable, would be undefined behaviour, so outputs are borrowed mutably only after their byte
//! ranges are shown disjoint from every other argument.

use std::ops::Range;

use crate::convert::input_error;

/// Byte range of a typed array's view.
pub fn span<T>(items: &[T]) -> Range<usize> {
    let r = items.as_ptr_range();
    r.start as usize..r.end as usize
}

fn overlap(a: &Range<usize>, b: &Range<usize>) -> bool {
    !a.is_empty() && !b.is_empty() && a.start < b.end && b.start < a.end
}

/// Refuses any output that shares memory with another output or with an input.
pub fn ensure_disjoint(
    outputs: &[(&str, Range<usize>)],
    inputs: &[(&str, Range<usize>)],
) -> napi::Result<()> {
    for (i, (name, out)) in outputs.iter().enumerate() {
        let others = outputs[i + 1..].iter().chain(inputs);
        if let Some((other, _)) = others.into_iter().find(|(_, r)| overlap(out, r)) {
            return Err(input_error(&format!("{name} shares memory with {other}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_of_one_buffer_overlap_only_where_they_share_bytes() {
        let buffer = [0u32; 8];
        let (a, b) = buffer.split_at(4);
        assert!(ensure_disjoint(&[("a", span(a)), ("b", span(b))], &[]).is_ok());
        assert!(ensure_disjoint(&[("a", span(&buffer[..5]))], &[("b", span(b))]).is_err());
        assert!(ensure_disjoint(&[("a", span(&buffer[..0]))], &[("b", span(&buffer))]).is_ok());
    }
}
