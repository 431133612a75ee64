## General
secure-payment = Secure payment
footer-text = Your card details travel over an encrypted connection and are not shared with the seller. Protected by 3-D Secure.
continue = Continue
home-text = Kapı is a secure payment page. To start a payment, the seller's website sends you here.

## Error pages
title-error = The payment could not be started
title-expired = The payment has expired
title-not-found = Payment not found
error-field = Field
error-code = Error code
error-next-step = Please go back to the seller's website and try again. If the problem persists, give the seller this error code.

## Card page
card-page-title = Pay by card
label-merchant = Seller
label-order = Order no
label-description = Description
label-installment = Installments
label-expires = Pay before
label-amount = Amount
label-card = Card
label-auth-code = Authorisation code
form-has-errors = Please correct the fields below
label-card-holder = Name on card
label-card-number = Card number
label-expiry = Expiry date
label-exp-month = Expiry month
label-exp-month-short = Month
label-exp-year = Expiry year
label-exp-year-short = Year
label-cvv = Security code (CVV)
hint-cvv = The 3-digit code on the back of the card (4 digits on the front for American Express).
hint-cvv-amex = The 4-digit code on the front of the card.
hint-cvv-other = The 3-digit code on the back of the card.
countdown-expired = time is up
doc-preinfo-title = Pre-Information Form
doc-contract-title = Distance Sales Contract
consent-preinfo = I have read the Pre-Information Form and confirm that I have been informed.
consent-contract = I have read and accept the Distance Sales Contract.
pay-button = Confirm order with obligation to pay: pay { $amount }
pay-obligation = By pressing this button you take on an obligation to pay { $amount } to { $merchant }.
switch-language = Bu sayfayı Türkçe görüntüle
cancel-payment = Cancel and return to the seller
installment-single = Single payment
installment-count = { $count } installments
doc-payment-method = Credit card / debit card

## Card validation errors
card-error-pan-missing = Enter the card number.
card-error-pan-digits = The card number must contain digits only.
card-error-pan-luhn = The card number is not valid; please check it.
card-error-brand = This card type is not accepted (Visa, Mastercard, American Express, Troy).
card-error-pan-length = The card number has the wrong length for its card type.
card-error-expiry-invalid = Choose the expiry month and year.
card-error-expired = The card has expired.
card-error-cvv = The security code must be 3 digits, or 4 for American Express.
card-error-holder-missing = Enter the name on the card.
card-error-holder-invalid = The name may contain only letters, spaces and . ' - (2–64 characters).
consent-required-preinfo = Confirm the Pre-Information Form to continue.
consent-required-contract = Accept the Distance Sales Contract to continue.

## 3-D Secure redirect
to-acs-title = Taking you to your bank
to-acs-text = Your card issuer's 3-D Secure page is opening. If nothing happens, press the button.

## Result page
result-approved-title = Payment approved
result-approved-text = Your payment was received. Thank you.
result-declined-title = Payment declined
result-failed-title = Payment not completed
result-cancelled-title = Payment cancelled
result-processing-title = Processing your payment
result-processing-text = Please wait; this page refreshes by itself.
result-returning = You will be taken back to the seller's website in a few seconds.
return-to = Return to

## Error codes
err-KP-1001 = The payment request could not be read.
err-KP-1002 = The payment request contains an unknown field.
err-KP-1003 = The payment request is missing a required field.
err-KP-1004 = A field of the payment request has an invalid value.
err-KP-1005 = A field of the payment request was sent more than once.
err-KP-1006 = A field of the payment request contains a line break.
err-KP-1007 = The request is too large.
err-KP-1010 = The seller is not known.
err-KP-1011 = The payment request's signature could not be verified.
err-KP-1012 = The payment request is too old; please start again from the seller's website.
err-KP-1013 = This payment request has already been used.
err-KP-1014 = The return address is not registered for this seller.
err-KP-1015 = The amount is not valid.
err-KP-1016 = The currency is not supported.
err-KP-1017 = The order number is not valid.
err-KP-1018 = This order has already been paid.
err-KP-1019 = The number of installments is not valid.
err-KP-2001 = Payment not found.
err-KP-2002 = The time for this payment has run out. Please start again from the seller's website.
err-KP-2004 = This payment was started in another browser session.
err-KP-2005 = The form has expired; please reload the page and try again.
err-KP-2007 = You cancelled the payment.
err-KP-3001 = 3-D Secure authentication failed.
err-KP-3002 = Your card issuer rejected the transaction.
err-KP-3003 = 3-D Secure authentication is not available right now.
err-KP-3004 = This 3-D Secure response has already been used.
err-KP-3005 = The 3-D Secure response is not valid.
err-KP-3006 = You cancelled the 3-D Secure authentication.
err-KP-3007 = Your card issuer's authentication system cannot be reached.
err-KP-4001 = Your bank did not approve the payment.
err-KP-4091 = The card's bank cannot be reached.
err-KP-5000 = An unexpected error occurred; your card was not charged.

## Bank response codes
bank-00 = Approved
bank-01 = Refer to card issuer
bank-04 = Pick up card
bank-05 = Do not honour
bank-12 = Invalid transaction
bank-13 = Invalid amount
bank-14 = Invalid card number
bank-15 = No such issuer
bank-33 = Expired card, pick up
bank-34 = Suspected fraud, pick up
bank-41 = Lost card, pick up
bank-43 = Stolen card, pick up
bank-51 = Insufficient funds
bank-54 = Expired card
bank-57 = Transaction not permitted to cardholder
bank-58 = Transaction not permitted to terminal
bank-61 = Exceeds amount limit
bank-62 = Restricted card
bank-65 = Exceeds frequency limit
bank-82 = CVV invalid
bank-91 = Card issuer unavailable
bank-93 = Card is closed to e-commerce transactions
bank-96 = System malfunction
bank-other = Your bank did not approve the transaction

## ACS simulator (card issuer)
acs-title = 3-D Secure verification
acs-bank-name = Kapı Test Bank
acs-intro = To confirm your purchase, enter the 6-digit code sent to your mobile phone.
acs-phone = Phone
acs-otp-label = Verification code (SMS)
acs-attempts-left = Attempts left: { $left }
acs-verify = Confirm
acs-resend = Send a new code
acs-cancel = Cancel
acs-outbox-link = Simulator: show the SMS messages sent
acs-sim-note = This page is Kapı's built-in bank simulator, not a real bank.
acs-unknown = This verification was not found.
acs-finished = This verification is already complete.
acs-invalid = The verification request is not valid.
acs-returning = Returning to the seller's payment page
acs-returning-text = Verification complete. If nothing happens, press the button.
acs-sms-text = Verification code for your { $amount } purchase at { $merchant }: { $code }. Do not share this code.
acs-resent = A new code was sent; the previous code no longer works.
acs-resend-limit = The limit of new codes has been reached.
acs-resend-wait = Please wait a moment before asking for a new code.
acs-code-expired = The code has expired; please ask for a new one.
acs-too-many = Too many code entries; please try again in a little while.
acs-code-wrong = Wrong code. Attempts left: { $left }

## Demo shop
demo-title = Kapı Demo Shop
demo-intro = This little shop is a merchant's website. "Buy" sends you to the Kapı payment page with a signed form; "Buy (via the API)" has the shop's server create a checkout session and sends you to its URL.
demo-buy = Buy
demo-buy-api = Buy (via the API)
demo-test-cards = Test cards: 4111 1111 1111 1111 (SMS challenge), 5555 5555 5555 4444 (frictionless), 4000 0000 0000 9995 (insufficient funds). Any future expiry month, any 3-digit CVV.
demo-ok-title = Thank you, your payment was received
demo-fail-title = The payment was not completed
demo-signature-ok = Signature verified
demo-signature-bad = Signature INVALID
demo-callbacks = Server-to-server notifications received (signed form results and JSON events)
demo-none = No notifications yet.
demo-back = Back to the shop

## API error codes
err-KP-6001 = The API key is missing or invalid.
err-KP-6002 = API calls from this IP address are not allowed.
err-KP-6003 = The request body is not valid JSON.
err-KP-6004 = The request contains an unknown field.
err-KP-6005 = A field has the wrong type or an invalid value, or a required field is missing.
err-KP-6006 = The request body must be application/json.
err-KP-6007 = The request body is larger than 64 KiB.
err-KP-6010 = The Idempotency-Key header is invalid (1–255 visible ASCII characters).
err-KP-6011 = This Idempotency-Key was used with a different request.
err-KP-6012 = The request sent with this Idempotency-Key is still being processed.
err-KP-6020 = The checkout session is no longer open.
err-KP-6030 = This payment cannot be voided.
err-KP-6031 = The void cut-off of the business day has passed; use a refund.
err-KP-6032 = The refund amount exceeds the refundable amount.
err-KP-6033 = This payment cannot be refunded.
err-KP-6034 = The bank refused the request.
err-KP-6040 = Event not found.
err-KP-6041 = The query parameters are invalid.
err-KP-6042 = This event has no endpoint to be delivered to.
err-KP-6044 = No such API endpoint.
err-KP-1020 = Too many attempts; please try again in a little while.
err-KP-2008 = Too many declined payment attempts from this connection; please try again later.
err-KP-6050 = API rate limit reached; wait for the Retry-After time.
