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
