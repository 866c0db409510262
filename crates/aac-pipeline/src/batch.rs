//! Running the good items of a chunk as one batch and matching the results
//! back: the finder and the U-net each work fastest on one batch, while a
//! chunk holds images that failed an earlier stage.

/// Runs `run` once on the inputs of the items that have one (`input` gives
/// `None` for the others) and returns, per item, its output: `None` for an
/// item without input, or when `run` returned fewer outputs than inputs.
pub fn run_matched<'a, T, I, O>(
    items: &'a [T],
    input: impl Fn(&'a T) -> Option<I>,
    run: impl FnOnce(Vec<I>) -> Vec<O>,
) -> Vec<Option<O>> {
    let inputs: Vec<I> = items.iter().filter_map(&input).collect();
    let mut outputs = if inputs.is_empty() {
        Vec::new()
    } else {
        run(inputs)
    }
    .into_iter();
    items
        .iter()
        .map(|item| input(item).and_then(|_| outputs.next()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_go_back_to_their_items_and_failed_items_get_none() {
        let items = [Some(1), None, Some(3), None];
        let out = run_matched(&items, |x| *x, |v| v.iter().map(|x| x * 10).collect());
        assert_eq!(out, [Some(10), None, Some(30), None]);
        let short = run_matched(&items, |x| *x, |v| v.into_iter().take(1).collect());
        assert_eq!(short, [Some(1), None, None, None]);
        let mut called = false;
        let none = run_matched(
            &[None::<u8>],
            |x| *x,
            |v| {
                called = true;
                v
            },
        );
        assert_eq!((none, called), (vec![None], false));
    }
}
