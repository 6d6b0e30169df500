//! The reply types a pipeline records as its commands are added, so that
//! its replies read as a tuple of them with nothing named by the caller.
//!
//! A pipeline starts with the empty list `()`; each typed command added by
//! value ([`Target::Output`](crate::Target::Output)) pushes its reply type:
//! after `.incr("n").get::<String>("k")` the list is
//! `(((), i64), Option<String>)`, which reads as `(i64, Option<String>)`
//! ([`ReadAs`]). A raw command, whose reply type nobody named, makes the
//! list [`Untyped`], which reads as whatever the caller names, as do the
//! empty list and lists too long for a tuple.

use resp::FromValue;

/// The reply types a pipeline has recorded: `()`, a list `(L, T)` of
/// them, or [`Untyped`].
pub trait Replies {
    /// The list after one more command whose reply reads as `T`.
    type Push<T: FromValue>: Replies;
}

impl Replies for () {
    type Push<T: FromValue> = ((), T);
}

impl<L: Replies, A> Replies for (L, A) {
    type Push<T: FromValue> = ((L, A), T);
}

/// The replies of a pipeline holding a command whose reply type was not
/// named (one added raw, with `add` or `push`): they read as whatever the
/// caller names, a tuple or a `Vec`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Untyped;

impl Replies for Untyped {
    type Push<T: FromValue> = Untyped;
}

/// The replies recorded as `Self` read as a `T`: a list of one to eight
/// types as exactly the tuple of them, so that the caller needs to name
/// nothing; anything else (the empty list, [`Untyped`], nine or more) as
/// any `T` the caller names.
pub trait ReadAs<T: FromValue> {
    /// How many commands the recorded types account for, when `T` is
    /// fixed by them; a pipeline holding another number of commands (some
    /// added through `&mut`, which records nothing) is read as raw values
    /// instead, or refused.
    const RECORDED: Option<usize>;
}

impl<T: FromValue> ReadAs<T> for () {
    const RECORDED: Option<usize> = None;
}

impl<T: FromValue> ReadAs<T> for Untyped {
    const RECORDED: Option<usize> = None;
}

/// The nested list of `$name`s: `((((), A), B), C)`.
macro_rules! list {
    ($($name:ident)*) => { list!(@ () ; $($name)*) };
    (@ $acc:ty ; $head:ident $($rest:ident)*) => { list!(@ ($acc, $head) ; $($rest)*) };
    (@ $acc:ty ;) => { $acc };
}

macro_rules! read_as_tuple {
    ($len:expr; $($name:ident)+) => {
        impl<$($name: FromValue),+> ReadAs<($($name,)+)> for list!($($name)+) {
            const RECORDED: Option<usize> = Some($len);
        }
    };
}

read_as_tuple!(1; A);
read_as_tuple!(2; A B);
read_as_tuple!(3; A B C);
read_as_tuple!(4; A B C D);
read_as_tuple!(5; A B C D E);
read_as_tuple!(6; A B C D E F);
read_as_tuple!(7; A B C D E F G);
read_as_tuple!(8; A B C D E F G H);

/// Nine or more: no tuple that long converts, so the caller names the type
/// (a `Vec`, say), as for an untyped pipeline.
impl<T: FromValue, L, A, B, C, D, E, F, G, H, I> ReadAs<T> for list!(@ L ; A B C D E F G H I) {
    const RECORDED: Option<usize> = None;
}

#[cfg(test)]
mod tests {
    use resp::Value;

    use super::*;

    /// What a pipeline's `query` does with its recorded types: `T` comes
    /// from `R` alone.
    fn read<R: ReadAs<T>, T: FromValue>(_recorded: R, replies: Vec<Value>) -> (Option<usize>, T) {
        (
            R::RECORDED,
            T::from_value(Value::Array(replies)).expect("fits"),
        )
    }

    fn push<R: Replies, T: FromValue>(_list: R) -> R::Push<T>
    where
        R::Push<T>: Default,
    {
        Default::default()
    }

    #[test]
    fn recorded_types_read_as_their_tuple_with_nothing_named() {
        let list = push::<_, Option<String>>(push::<_, i64>(()));
        let (recorded, (n, text)) = read(list, vec![Value::Integer(2), Value::bulk("hi")]);
        assert_eq!(recorded, Some(2));
        assert_eq!(n, 2);
        assert_eq!(text.as_deref(), Some("hi"));
    }

    #[test]
    fn untyped_and_empty_lists_read_as_what_the_caller_names() {
        let replies = || vec![Value::Integer(1), Value::Integer(2)];
        let (recorded, all): (_, Vec<i64>) = read(Untyped, replies());
        assert_eq!((recorded, all), (None, vec![1, 2]));
        let (recorded, pair): (_, (i64, String)) = read((), replies());
        assert_eq!((recorded, pair), (None, (1, "2".to_owned())));
    }

    #[test]
    fn an_untyped_list_stays_untyped() {
        let list: Untyped = push::<_, i64>(Untyped);
        assert_eq!(list, Untyped);
    }
}
