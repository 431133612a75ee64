-- What each consented document was rendered from (its data as shown, as JSON), so the exact
-- file the shopper accepted can be rendered again from its template version, byte for byte.
ALTER TABLE consents ADD COLUMN document_data TEXT;
