## Demo shop (src/demo/mod.rs, templates/demo/*.html). The other demo-* texts are in main.ftl.

# This language's name in itself: the language link of the page in the other language.
demo-language-name = English

demo-product-kazak = Hand-knitted wool sweater
demo-product-kahve = Turkish coffee, 250 g
demo-product-kitap = Book: Madonna in a Fur Coat

# The page with the signed form from the shop to Kapı.
demo-redirect-title = Taking you to the payment page
demo-redirect-text = Kapı's secure payment page is opening. If it does not open, press the button.

# Columns of the notification table.
demo-col-via = Channel
demo-col-order = Order number
demo-col-status = Status
demo-col-amount = Amount
demo-col-signature = Signature

demo-result-fields = The signed fields Kapı sent

demo-error-unknown-product = There is no such product.
demo-error-sign = The payment form could not be signed.
# $status: HTTP status, $detail: Kapı's answer
demo-error-refused = Kapı did not open the payment session ({ $status }): { $detail }
# $detail: the connection error
demo-error-unreachable = Kapı could not be reached: { $detail }
demo-error-no-url = Kapı did not send the payment session's address.

# The notification list and the API view.
# $shown: shown, $count: notifications received
demo-callbacks-latest = The newest { $shown } of the { $count } notifications received:
demo-api-view = View in the API
demo-api-title = The order's record in Kapı's API
demo-api-intro = The shop's server asked Kapı's API this, with its own key; the answer is below as it came.
demo-api-status = HTTP status
demo-api-answer = API answer
demo-view-payment = View this payment in the API
