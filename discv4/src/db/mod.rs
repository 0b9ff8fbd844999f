//! The persistent node database (redb).
