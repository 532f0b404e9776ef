//! People: the account record, roles, and the values a user chooses (username, e-mail,
//! display name), each parsed once into a type that can only hold a valid value.

mod model;
mod ports;
mod service;

pub use model::{DisplayName, Email, NewUser, Role, User, Username};
pub use ports::UserStore;
pub use service::{CreateUser, UserService};
