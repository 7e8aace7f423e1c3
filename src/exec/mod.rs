//! Carrying out approved plans. So far: the journal every approval and step outcome goes to.

pub mod journal;
