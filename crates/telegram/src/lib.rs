//! The Telegram adapter: the Bot API through frankenstein (base URL configurable), approval
//! messages with inline buttons, and the update poller that turns button presses into
//! decisions.

mod client;
pub mod message;
mod notifier;
mod poller;
pub mod render;

pub use client::{TelegramApi, TelegramError, TelegramSettings};
pub use frankenstein::methods::SetWebhookParams;
pub use notifier::TelegramNotifier;
pub use poller::{OFFSET_KEY, TelegramUpdates, parse_callback_data};
