//! Keys to actions. Two keymaps are embedded (`keymaps/*.toml`); a user `keymap.toml` rebinds any
//! subset of actions. The help screen is built from the live keymap.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::settings::{embedded, parse_table, section, Warning};

/// The embedded keymaps, by name.
pub const KEYMAPS: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("emacs", include_str!("../../keymaps/emacs.toml")),
];

macro_rules! actions {
    ($($action:ident $name:literal $destructive:literal: $doc:literal),* $(,)?) => {
        /// What a key does.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum KeyAction {
            $(#[doc = $doc] $action,)*
        }

        impl KeyAction {
            /// Every action, in help order.
            pub const ALL: &'static [KeyAction] = &[$(KeyAction::$action),*];

            /// The name the keymap files use.
            pub fn name(self) -> &'static str {
                match self { $(KeyAction::$action => $name,)* }
            }

            /// What it does, for the help screen.
            pub fn describe(self) -> &'static str {
                match self { $(KeyAction::$action => $doc,)* }
            }

            /// Whether it leads to changing the cluster (never on ctrl-d / ctrl-k).
            pub fn is_destructive(self) -> bool {
                match self { $(KeyAction::$action => $destructive,)* }
            }

            fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|a| a.name() == name)
            }
        }
    };
}

actions! {
    Up "up" false: "Move up.",
    Down "down" false: "Move down.",
    Top "top" false: "First row.",
    Bottom "bottom" false: "Last row.",
    PageUp "page_up" false: "Up a page.",
    PageDown "page_down" false: "Down a page.",
    NextView "next_view" false: "Next view.",
    PrevView "prev_view" false: "Previous view.",
    Filter "filter" false: "Filter the rows (fuzzy).",
    Command "command" false: "Command palette (:nodes, :plans, :scale ns/name N, :q ...).",
    Help "help" false: "This help.",
    Back "back" false: "Close, clear the filter, go back.",
    Mark "mark" false: "Mark the row.",
    Quit "quit" false: "Quit.",
    Approve "approve" true: "Approve the selected proposal (asks to confirm).",
    ApproveAll "approve_all" true: "Approve every proposal (asks to confirm).",
    Reject "reject" false: "Reject the selected proposal.",
    CancelAction "cancel_action" false: "Cancel the selected running action between steps.",
    Cordon "cordon" true: "Propose cordoning (or uncordoning) the selected node.",
    Drain "drain" true: "Propose draining the selected node.",
    Replace "replace" true: "Propose replacing the selected node.",
    Pause "pause" false: "Pause or resume the simulation clock.",
    Faster "faster" false: "Run the simulation faster.",
    Slower "slower" false: "Run the simulation slower.",
    Sort "sort" false: "Change the sort column.",
}

/// A key as the files spell it: `j`, `G`, `ctrl-c`, `pageup`, `f1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    code: KeyCodeKey,
    ctrl: bool,
    alt: bool,
}

/// The part of a key code the keymap cares about (ordered, hashable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum KeyCodeKey {
    Char(char),
    Named(&'static str),
    F(u8),
}

const NAMED: &[(&str, KeyCode)] = &[
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("enter", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
];

impl Key {
    /// Parse a key's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        let (mut ctrl, mut alt, mut rest) = (false, false, s);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = if rest == "space" {
            KeyCodeKey::Char(' ')
        } else if let Some((name, _)) = NAMED.iter().find(|(n, _)| *n == rest) {
            KeyCodeKey::Named(name)
        } else if let Some(n) = rest
            .strip_prefix('f')
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=12).contains(n))
        {
            KeyCodeKey::F(n)
        } else {
            let mut chars = rest.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => KeyCodeKey::Char(c),
                _ => return None,
            }
        };
        Some(Self { code, ctrl, alt })
    }

    /// The key of a terminal event (shift is part of the character).
    pub fn of(event: &KeyEvent) -> Option<Self> {
        let code = match event.code {
            KeyCode::Char(c) => KeyCodeKey::Char(c),
            KeyCode::F(n) => KeyCodeKey::F(n),
            other => KeyCodeKey::Named(NAMED.iter().find(|(_, c)| *c == other)?.0),
        };
        Some(Self {
            code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// The spelling, for the help screen.
    pub fn spelling(&self) -> String {
        let mut s = String::new();
        if self.ctrl {
            s.push_str("ctrl-");
        }
        if self.alt {
            s.push_str("alt-");
        }
        match self.code {
            KeyCodeKey::Char(' ') => s.push_str("space"),
            KeyCodeKey::Char(c) => s.push(c),
            KeyCodeKey::Named(n) => s.push_str(n),
            KeyCodeKey::F(n) => s.push_str(&format!("f{n}")),
        }
        s
    }

    /// ctrl-d and ctrl-k: tmux and shell muscle memory; never destructive.
    fn is_reserved(&self) -> bool {
        self.ctrl && !self.alt && matches!(self.code, KeyCodeKey::Char('d' | 'k'))
    }
}

/// The live keymap.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    bindings: BTreeMap<KeyAction, Vec<Key>>,
}

impl Keymap {
    /// An embedded keymap by name, with `user` (a keymap.toml's text) over it. Unknown names,
    /// unknown actions and bad keys are warnings; a key a later action takes is unbound from the
    /// earlier one.
    pub fn load(name: &str, user: Option<(&str, &str)>, warnings: &mut Vec<Warning>) -> Self {
        let base = embedded("keymap", name, KEYMAPS, warnings);
        let mut map = Self::default();
        map.apply(&format!("keymaps/{name}.toml"), base, warnings);
        if let Some((file, text)) = user {
            map.apply(file, text, warnings);
        }
        for action in KeyAction::ALL {
            if map.bindings.get(action).is_none_or(Vec::is_empty) {
                warnings.push(Warning(format!(
                    "no key is bound to {}; it can only be reached from the : palette",
                    action.name()
                )));
            }
        }
        map
    }

    fn apply(&mut self, file: &str, text: &str, warnings: &mut Vec<Warning>) {
        let table = parse_table(file, text, warnings);
        let Some(keys) = section(file, &table, "keys", warnings) else {
            return;
        };
        for (name, value) in keys {
            let at = format!("keys.{name}");
            let Some(action) = KeyAction::from_name(name) else {
                warnings.push(Warning::new(file, &at, "unknown action; ignored"));
                continue;
            };
            let Some(list) = value.as_array() else {
                warnings.push(Warning::new(file, &at, "must be a list of keys; ignored"));
                continue;
            };
            let mut bound = Vec::new();
            for v in list {
                let Some(key) = v.as_str().and_then(Key::parse) else {
                    warnings.push(Warning::new(
                        file,
                        &at,
                        format!("{v} is not a key; ignored"),
                    ));
                    continue;
                };
                if action.is_destructive() && key.is_reserved() {
                    warnings.push(Warning::new(
                        file,
                        &at,
                        format!(
                            "{} is never bound to a destructive action; ignored",
                            key.spelling()
                        ),
                    ));
                    continue;
                }
                bound.push(key);
            }
            for keys in self.bindings.values_mut() {
                keys.retain(|k| !bound.contains(k));
            }
            self.bindings.insert(action, bound);
        }
    }

    /// The action a key event triggers.
    pub fn action(&self, event: &KeyEvent) -> Option<KeyAction> {
        let key = Key::of(event)?;
        self.bindings
            .iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(a, _)| *a)
    }

    /// The keys bound to an action, spelled out (`j/down`).
    pub fn keys_for(&self, action: KeyAction) -> String {
        self.bindings
            .get(&action)
            .map(|keys| keys.iter().map(Key::spelling).collect::<Vec<_>>().join("/"))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn embedded_keymaps_bind_every_action_cleanly() {
        for (name, _) in KEYMAPS {
            let mut warnings = Vec::new();
            let k = Keymap::load(name, None, &mut warnings);
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
            assert_eq!(
                k.action(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
                Some(KeyAction::Quit)
            );
        }
        let k = Keymap::load("default", None, &mut Vec::new());
        assert_eq!(
            k.action(&press(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(KeyAction::Down)
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(KeyAction::Bottom)
        );
        assert_eq!(k.keys_for(KeyAction::Down), "j/down");
    }

    #[test]
    fn user_rebinds_move_keys_and_bad_entries_are_named() {
        let user = "[keys]\ndrain = [\"ctrl-d\", \"D\"]\nup = [\"w\"]\ndown = \"s\"\nteleport = [\"t\"]\nleft = [\"ctrl-\"]\n";
        let mut warnings = Vec::new();
        let k = Keymap::load("default", Some(("keymap.toml", user)), &mut warnings);
        let w: Vec<&str> = warnings.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(
            w,
            [
                "keymap.toml: keys.down: must be a list of keys; ignored",
                "keymap.toml: keys.drain: ctrl-d is never bound to a destructive action; ignored",
                "keymap.toml: keys.left: unknown action; ignored",
                "keymap.toml: keys.teleport: unknown action; ignored",
            ]
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('D'), KeyModifiers::SHIFT)),
            Some(KeyAction::Drain)
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('w'), KeyModifiers::NONE)),
            Some(KeyAction::Up)
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('k'), KeyModifiers::NONE)),
            None,
            "rebound"
        );
        assert_eq!(Key::parse("ctrl-alt-x").unwrap().spelling(), "ctrl-alt-x");
        assert!(Key::parse("ctrl-").is_none() && Key::parse("xy").is_none());
    }
}
