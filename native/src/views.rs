//! String-view helpers: output strings that are substrings of an input view array point into
//! the input's data buffers (no copy); strings of up to 12 bytes are inlined in the view.

use arrow_array::StringViewArray;
use arrow_array::builder::make_view;
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_data::ByteView;

/// Views of substrings of one input array, with a null mask, built row by row.
pub struct SubViews {
    views: Vec<u128>,
    valid: Vec<bool>,
}

impl SubViews {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            views: Vec::with_capacity(n),
            valid: Vec::with_capacity(n),
        }
    }

    /// Append `whole[start..end]`, where `whole` is row `view` of the input.
    #[inline]
    pub fn push(&mut self, view: u128, whole: &[u8], start: usize, end: usize) {
        let part = &whole[start..end];
        let v = if (view as u32) <= 12 {
            make_view(part, 0, 0)
        } else {
            let bv = ByteView::from(view);
            make_view(part, bv.buffer_index, bv.offset + start as u32)
        };
        self.views.push(v);
        self.valid.push(true);
    }

    #[inline]
    pub fn push_null(&mut self) {
        self.views.push(0);
        self.valid.push(false);
    }

    /// The array, sharing `input`'s data buffers.
    pub fn finish(self, input: &StringViewArray) -> StringViewArray {
        let nulls = NullBuffer::from(self.valid);
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        StringViewArray::try_new(
            ScalarBuffer::from(self.views),
            input.data_buffers().to_vec(),
            nulls,
        )
        .expect("substring views at ASCII boundaries of valid views are valid")
    }
}
