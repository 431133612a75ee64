//! A checkout with fakes for everything outside it: an ACS that answers as told, a bank that
//! keeps books (and can lose answers), a notifier that only records, SQLite in memory and a
//! clock the test moves. No HTTP anywhere.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use kapi::{
    acquirer::{
        Acquirer, AcquirerError, AfterSaleRequest, AuthRequest, AuthResponse, Inquiry,
        InquiryRequest,
    },
    checkout::{
        Checkout,
        card_form::CardStep,
        flow::{ClientInfo, Next},
        payment::{Payment, Source},
        service::{Keys, Parts, PublicUrl},
    },
    clock::{Clock, OffsetClock},
    config::Settings,
    crypto::vault::{MasterKey, Vault},
    installments::{Installments, bins::BinTable},
    limits::Limiter,
    merchants::{self, NewMerchant},
    notify::Notifier,
    storage::{MerchantRecord, Storage},
    threeds::{AReq, ARes, CRes, DirectoryServer, RReq, ThreeDsError, messages},
};
use secrecy::ExposeSecret;

/// How the fake ACS answers the next AReqs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acs {
    /// Frictionless, with this transStatus (`Y`, `A`, `N`, `R`, `U`).
    Frictionless(&'static str),
    Challenge,
    Down,
}

pub struct FakeAcs {
    pub mode: Mutex<Acs>,
    pub areqs: Mutex<Vec<String>>,
}

#[async_trait]
impl DirectoryServer for FakeAcs {
    async fn authenticate(&self, areq: &AReq) -> Result<ARes, ThreeDsError> {
        self.areqs
            .lock()
            .unwrap()
            .push(areq.three_ds_server_trans_id.clone());
        let mode = *self.mode.lock().unwrap();
        let (status, acs_url) = match mode {
            Acs::Down => return Err(ThreeDsError::Unreachable("connection refused".into())),
            Acs::Frictionless(s) => (s, None),
            Acs::Challenge => ("C", Some("https://acs.example/challenge".to_owned())),
        };
        Ok(ARes {
            three_ds_server_trans_id: areq.three_ds_server_trans_id.clone(),
            acs_trans_id: format!("acs-{}", areq.three_ds_server_trans_id),
            ds_trans_id: format!("ds-{}", areq.three_ds_server_trans_id),
            message_type: "ARes".into(),
            message_version: messages::MESSAGE_VERSION.into(),
            trans_status: status.into(),
            trans_status_reason: None,
            eci: None,
            authentication_value: matches!(status, "Y" | "A").then(|| "AAABBBCCCDDD=".into()),
            acs_url,
            acs_challenge_mandated: None,
            authentication_type: None,
        })
    }
}

/// How the fake bank answers the next authorisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bank {
    /// Books the authorisation and answers with this code.
    Answer(&'static str),
    /// Books an approval, but the answer never arrives.
    LoseApproval,
    /// Never receives the request.
    Unreachable,
}

#[derive(Default)]
pub struct Books {
    /// Authorisations by attempt reference, and whether they were reversed.
    pub auths: HashMap<String, (AuthResponse, bool)>,
    pub authorise_calls: Vec<AuthRequestSeen>,
    pub inquiries: usize,
    pub reversals: Vec<String>,
    pub refunds: Vec<(String, i64)>,
}

/// What the bank saw of an authorisation request (never the card itself).
#[derive(Debug, Clone)]
pub struct AuthRequestSeen {
    pub reference: String,
    pub amount_minor: i64,
    pub eci: String,
    pub cavv: Option<String>,
    pub md_status: String,
    pub cvv_len: usize,
}

pub struct FakeBank {
    pub mode: Mutex<Bank>,
    /// Inquiries fail too (the bank is down for everything).
    pub inquiry_down: Mutex<bool>,
    pub books: Mutex<Books>,
}

fn approval() -> AuthResponse {
    AuthResponse {
        proc_return_code: "00".into(),
        auth_code: "A1B2C3".into(),
        host_ref: "612345678901".into(),
        transaction_id: "26000001".into(),
    }
}

#[async_trait]
impl Acquirer for FakeBank {
    fn terminal_id(&self) -> &str {
        "T-FAKE"
    }

    async fn authorise(&self, req: &AuthRequest) -> Result<AuthResponse, AcquirerError> {
        let mut books = self.books.lock().unwrap();
        books.authorise_calls.push(AuthRequestSeen {
            reference: req.reference.clone(),
            amount_minor: req.amount_minor,
            eci: req.eci.clone(),
            cavv: req.cavv.clone(),
            md_status: req.md_status.clone(),
            cvv_len: req.cvv.expose().len(),
        });
        match *self.mode.lock().unwrap() {
            Bank::Answer(code) => {
                let resp = AuthResponse {
                    proc_return_code: code.into(),
                    ..approval()
                };
                books
                    .auths
                    .insert(req.reference.clone(), (resp.clone(), false));
                Ok(resp)
            }
            Bank::LoseApproval => {
                books
                    .auths
                    .insert(req.reference.clone(), (approval(), false));
                Err(AcquirerError::Unreachable("read timed out".into()))
            }
            Bank::Unreachable => Err(AcquirerError::Unreachable("connection refused".into())),
        }
    }

    async fn void(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.refund(req).await
    }

    async fn reverse(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        if *self.inquiry_down.lock().unwrap() {
            return Err(AcquirerError::Unreachable("connection refused".into()));
        }
        let mut books = self.books.lock().unwrap();
        books.reversals.push(req.original_reference.clone());
        let code = match books.auths.get_mut(&req.original_reference) {
            Some(entry) => {
                entry.1 = true;
                "00"
            }
            None => "25",
        };
        Ok(AuthResponse {
            proc_return_code: code.into(),
            ..approval()
        })
    }

    async fn inquire(&self, req: &InquiryRequest) -> Result<Inquiry, AcquirerError> {
        let mut books = self.books.lock().unwrap();
        books.inquiries += 1;
        if *self.inquiry_down.lock().unwrap() {
            return Err(AcquirerError::Unreachable("connection refused".into()));
        }
        Ok(match books.auths.get(&req.reference) {
            Some((response, reversed)) => Inquiry::Found {
                response: response.clone(),
                reversed: *reversed,
            },
            None => Inquiry::NotFound,
        })
    }

    async fn refund(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.books
            .lock()
            .unwrap()
            .refunds
            .push((req.reference.clone(), req.amount_minor));
        Ok(approval())
    }

    async fn capture(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.refund(req).await
    }
}

/// A signed result posted to a callback URL: payment id, URL, fields.
pub type Callback = (String, String, Vec<(String, String)>);

#[derive(Default)]
pub struct FakeNotifier {
    pub outbox_written: Mutex<usize>,
    pub callbacks: Mutex<Vec<Callback>>,
}

impl Notifier for FakeNotifier {
    fn outbox_written(&self) {
        *self.outbox_written.lock().unwrap() += 1;
    }

    fn send_callback(&self, payment_id: &str, url: &str, fields: Vec<(String, String)>) {
        self.callbacks
            .lock()
            .unwrap()
            .push((payment_id.into(), url.into(), fields));
    }
}

pub struct World {
    pub checkout: Checkout,
    pub clock: Arc<OffsetClock>,
    pub acs: Arc<FakeAcs>,
    pub bank: Arc<FakeBank>,
    pub notifier: Arc<FakeNotifier>,
    pub merchant: MerchantRecord,
    pub storage: Storage,
    keys: Arc<Keys>,
}

pub const MASTERCARD: &str = "5555555555554444";
pub const SHOPPER_IP: &str = "198.51.100.20";

impl World {
    pub async fn new() -> Self {
        Self::with_settings(Settings::default()).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        let clock = Arc::new(OffsetClock::default());
        let storage = Storage::in_memory().await.unwrap();
        let key = MasterKey::from_base64(1, &MasterKey::generate_base64()).unwrap();
        let vault = Vault::new(key);
        let acs = Arc::new(FakeAcs {
            mode: Mutex::new(Acs::Frictionless("Y")),
            areqs: Mutex::default(),
        });
        let bank = Arc::new(FakeBank {
            mode: Mutex::new(Bank::Answer("00")),
            inquiry_down: Mutex::new(false),
            books: Mutex::default(),
        });
        let notifier = Arc::new(FakeNotifier::default());
        let (id, _secret) = merchants::register(
            &*storage.merchants,
            &vault,
            NewMerchant {
                name: "Örnek Mağaza".into(),
                legal_title: "Örnek Ticaret A.Ş.".into(),
                address: "Kadıköy, İstanbul".into(),
                phone: "+90 216 000 00 00".into(),
                email: "destek@ornek.example".into(),
                mersis: "0123456789012345".into(),
                website: "https://ornek.example".into(),
                return_origins: vec!["https://ornek.example".into()],
                ..NewMerchant::default()
            },
            clock.now_ms(),
        )
        .await
        .unwrap();
        let merchant = storage
            .merchants
            .get_merchant(id.as_str())
            .await
            .unwrap()
            .unwrap();
        let keys = Arc::new(Keys {
            threeds_session: vault.derive_key("threeds-session"),
            acs_channel: vault.derive_key("acs-channel"),
            session_link: vault.derive_key("checkout-session-link"),
            csrf: vault.derive_key("csrf"),
        });
        let clock_dyn: Arc<dyn Clock> = clock.clone();
        let installments = Installments {
            bins: BinTable::load(None).unwrap(),
            caps: settings.installments.caps(),
            programs: kapi::routing::ProgramTable::built_in(),
        };
        let checkout = Checkout::new(Parts {
            settings: Arc::new(settings),
            storage: storage.clone(),
            vault,
            clock: clock_dyn.clone(),
            directory: acs.clone(),
            acquirer: bank.clone(),
            notifier: notifier.clone(),
            limiter: Arc::new(Limiter::in_memory(clock_dyn.clone())),
            guard: Arc::new(Limiter::new(
                Arc::new(kapi::storage::guard::StoredCounters::new(
                    storage.security.clone(),
                    clock_dyn.clone(),
                )),
                clock_dyn,
            )),
            installments: Arc::new(installments),
            keys: keys.clone(),
            public_url: PublicUrl::new("https://kapi.example"),
            bank_http: kapi::outbound::BankClients::with(reqwest::Client::new()),
        });
        Self {
            checkout,
            clock,
            acs,
            bank,
            notifier,
            merchant,
            storage,
            keys,
        }
    }

    pub fn acs(&self, mode: Acs) {
        *self.acs.mode.lock().unwrap() = mode;
    }

    pub fn bank(&self, mode: Bank) {
        *self.bank.mode.lock().unwrap() = mode;
    }

    /// A new payment of `order` for 150.00 TRY, with a callback URL.
    pub async fn payment(&self, order: &str) -> Payment {
        self.payment_with_attempts(order, 1).await
    }

    /// A new payment whose shopper may try `cards` cards.
    pub async fn payment_with_attempts(&self, order: &str, cards: i64) -> Payment {
        let mut draft = crate::fixtures::order(order);
        draft.card_attempts = kapi::domain::CardAttempts::from_count(cards).unwrap();
        self.checkout
            .create_payment(
                &self.merchant,
                draft,
                std::time::Duration::from_secs(900),
                Source::Api,
            )
            .await
            .unwrap()
    }

    pub async fn reload(&self, p: &Payment) -> Payment {
        self.checkout.payment(p.id.as_str()).await.unwrap()
    }

    /// The card form as a shopper submits it, with consent ticked.
    pub async fn submit(&self, p: &Payment) -> CardStep {
        self.try_submit(p).await.unwrap()
    }

    /// The card form, refusals included.
    pub async fn try_submit(&self, p: &Payment) -> Result<CardStep, kapi::checkout::CheckoutError> {
        let fields: Vec<(String, String)> = [
            ("card_holder", "AYSE YILMAZ"),
            ("card_number", MASTERCARD),
            ("exp_month", "12"),
            ("exp_year", "2030"),
            ("cvv", "123"),
            ("consent_preinfo", "on"),
            ("consent_contract", "on"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let client = ClientInfo {
            ip: SHOPPER_IP.into(),
            user_agent: "Mozilla/5.0 (Linux; Android 14)".into(),
            accept: "text/html".into(),
        };
        self.checkout
            .card_form(p, &self.merchant, &fields, &client)
            .await
    }

    /// Submits the card and expects to be sent on (not the form again).
    pub async fn pay(&self, p: &Payment) -> Next {
        match self.submit(p).await {
            CardStep::Next(next) => next,
            CardStep::Again { errors, .. } => panic!("card form refused: {errors:?}"),
        }
    }

    /// The ACS's signed RReq for a challenged payment.
    pub fn rreq(&self, p: &Payment, status: &str, cancel: Option<&str>) -> (Vec<u8>, String) {
        let t = p.threeds.as_ref().expect("3-D Secure started");
        let rreq = RReq {
            three_ds_server_trans_id: t.server_trans_id.clone(),
            acs_trans_id: t.acs_trans_id.clone().expect("challenged"),
            ds_trans_id: t.ds_trans_id.clone().unwrap_or_default(),
            message_type: "RReq".into(),
            message_version: messages::MESSAGE_VERSION.into(),
            message_category: "01".into(),
            trans_status: status.into(),
            trans_status_reason: None,
            eci: None,
            authentication_value: (status == "Y").then(|| "AAACCCDDDEEE=".into()),
            challenge_cancel: cancel.map(str::to_owned),
            interaction_counter: "01".into(),
            authentication_type: Some("01".into()),
        };
        let body = serde_json::to_vec(&rreq).unwrap();
        let mac = kapi::crypto::hmac_hex(self.keys.acs_channel.expose_secret(), &body);
        (body, mac)
    }

    /// The CRes the browser brings back from the ACS.
    pub fn cres(&self, p: &Payment, status: &str) -> String {
        let t = p.threeds.as_ref().expect("3-D Secure started");
        messages::encode_b64url(&CRes {
            three_ds_server_trans_id: t.server_trans_id.clone(),
            acs_trans_id: t.acs_trans_id.clone().expect("challenged"),
            message_type: "CRes".into(),
            message_version: messages::MESSAGE_VERSION.into(),
            trans_status: status.into(),
            challenge_completion_ind: "Y".into(),
        })
    }

    /// The statuses the payment went through.
    pub async fn path(&self, p: &Payment) -> Vec<String> {
        self.storage
            .payments
            .history(p.id.as_str())
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.to_status)
            .collect()
    }

    pub fn authorise_calls(&self) -> usize {
        self.bank.books.lock().unwrap().authorise_calls.len()
    }

    /// The events written for a payment, by type.
    pub async fn events(&self, p: &Payment) -> Vec<String> {
        let filter = kapi::storage::EventFilter {
            payment_id: Some(p.id.to_string()),
            limit: 50,
            ..Default::default()
        };
        let mut kinds: Vec<String> = self
            .storage
            .outbox
            .list_events(&self.merchant.id, &filter)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        kinds.reverse();
        kinds
    }
}

/// The field of a signed result.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}
