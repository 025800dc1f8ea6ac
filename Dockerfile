# The portal image: web (gunicorn), portal workers, beat and Flower.
# It has no torch: the GPU worker's image is Dockerfile.gpu.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OCCIPORTAL_DATA_DIR=/var/lib/occiportal

RUN apt-get update \
 && apt-get install --yes --no-install-recommends gettext \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 1000 --home-dir /app occiportal

WORKDIR /app
COPY . .
# boto3 for the S3 store (django-storages' s3 backend), Flower for the dashboard.
RUN pip install . "boto3>=1.35" "flower>=2.0,<3" \
 && OCCIPORTAL_ENV=production DJANGO_SECRET_KEY=build-only-not-a-secret \
    sh -c "python manage.py collectstatic --noinput && python manage.py compilemessages --ignore '.venv/*'" \
 && chown -R occiportal /var/lib/occiportal

USER occiportal
EXPOSE 8000
CMD ["gunicorn", "occiportal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "300"]
